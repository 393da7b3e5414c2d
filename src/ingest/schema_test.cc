#include "ingest/schema.h"

#include <gtest/gtest.h>

namespace tally {
namespace {

Event CartEvent(std::string properties, std::string product = "p1") {
  Event event;
  event.type = "ArticleAddedToCart";
  event.user_id = std::string(1, 'u');
  event.product_id = std::move(product);
  event.properties_json = std::move(properties);
  return event;
}

TEST(Schema, ParsesTheApiExampleAndPrintsItCanonically) {
  auto schema = ParseSchema(
      R"({"required":["article_price","currency"],"properties":{"article_price":"number","currency":"string"},"dimensions":["product_id"]})");
  ASSERT_TRUE(schema.ok()) << schema.status().message();
  EXPECT_EQ(schema->required.size(), 2u);
  EXPECT_EQ(
      SchemaToJson(*schema),
      R"({"required":["article_price","currency"],"properties":{"article_price":"number","currency":"string"},"dimensions":["product_id"]})");
  EXPECT_EQ(*ParseSchema(SchemaToJson(*schema)), *schema);
}

TEST(Schema, BadSchemasNameTheField) {
  EXPECT_EQ(ParseSchema("[]").status().message(), "schema: must be a JSON object");
  EXPECT_EQ(ParseSchema(R"({"required":"x"})").status().field(), "required");
  EXPECT_EQ(ParseSchema(R"({"required":["a","a"]})").status().field(), "required");
  EXPECT_EQ(ParseSchema(R"({"properties":{"a":"decimal"}})").status().field(), "properties.a");
  EXPECT_EQ(ParseSchema(R"({"dimensions":["colour"]})").status().field(), "dimensions");
  EXPECT_EQ(ParseSchema(R"({"requird":[]})").status().field(), "requird");
  EXPECT_EQ(ParseSchema("{").status().field(), "schema");
}

TEST(Schema, EventsAreCheckedForRequiredPropertiesKindsAndDimensions) {
  auto schema = *ParseSchema(
      R"({"required":["article_price"],"properties":{"article_price":"number","qty":"integer","tags":"array"},"dimensions":["product_id"]})");
  EXPECT_TRUE(
      CheckAgainstSchema(ViewOf(CartEvent(R"({"article_price":29.99,"qty":2,"tags":[]})")), schema).ok());
  EXPECT_TRUE(CheckAgainstSchema(ViewOf(CartEvent(R"({"article_price":30})")), schema).ok());
  EXPECT_EQ(CheckAgainstSchema(ViewOf(CartEvent(R"({"qty":2})")), schema).message(),
            "properties.article_price: missing (schema of ArticleAddedToCart)");
  EXPECT_EQ(CheckAgainstSchema(ViewOf(CartEvent("")), schema).message(),
            "properties.article_price: missing (schema of ArticleAddedToCart)");
  EXPECT_EQ(CheckAgainstSchema(ViewOf(CartEvent(R"({"article_price":"cheap"})")), schema).message(),
            "properties.article_price: must be number (schema of ArticleAddedToCart)");
  EXPECT_EQ(CheckAgainstSchema(ViewOf(CartEvent(R"({"article_price":1,"qty":1.5})")), schema).message(),
            "properties.qty: must be integer (schema of ArticleAddedToCart)");
  EXPECT_EQ(CheckAgainstSchema(ViewOf(CartEvent(R"({"article_price":1})", "")), schema).message(),
            "product_id: missing (schema of ArticleAddedToCart)");
}

}  // namespace
}  // namespace tally
