#include "views/row_columns.h"

#include <bit>
#include <cstring>

#include "common/fixed_width.h"

namespace tally {
namespace {

constexpr size_t kCountsBytes = 16;
constexpr size_t kColumnHeaderBytes = 24;
constexpr size_t kHeaderBytes = kCountsBytes + RowColumns::kColumns * kColumnHeaderBytes;

uint32_t WidthOf(uint64_t span) { return static_cast<uint32_t>(std::bit_width(span)); }

uint64_t WordsOf(uint64_t count, uint32_t width) { return (count * width + 63) / 64; }

}  // namespace

RowColumnsWriter::Packer::Packer(uint64_t base, uint64_t max, uint64_t count)
    : base_(base), max_(max), width_(WidthOf(max - base)) {
  words_.reserve(WordsOf(count, width_));
}

void RowColumnsWriter::Packer::AppendHeader(std::string* out) const {
  PutFixed<uint64_t>(out, base_);
  PutFixed<uint64_t>(out, max_);
  PutFixed<uint32_t>(out, width_);
  PutFixed<uint32_t>(out, 0);
}

void RowColumnsWriter::Packer::AppendWords(std::string* out) const {
  out->append(reinterpret_cast<const char*>(words_.data()), words_.size() * sizeof(uint64_t));
}

RowColumnsWriter::RowColumnsWriter(int64_t hour, uint32_t rows, const RowBounds& bounds)
    : hour_(hour),
      rows_(rows),
      millis_(0, kMillisPerHour - 1, rows),
      state_(0, static_cast<uint64_t>(RowState::kDuplicate), rows),
      type_(0, bounds.types == 0 ? 0 : bounds.types - 1, rows),
      user_(0, bounds.users == 0 ? 0 : bounds.users - 1, rows),
      product_(0, bounds.products, rows),
      store_(0, bounds.stores, rows),
      position_(bounds.first_position, std::max(bounds.first_position, bounds.last_position), rows) {
  versions_.reserve(rows);
}

void RowColumnsWriter::Add(const EventRow& row) {
  millis_.Put(static_cast<uint64_t>(row.timestamp - hour_ * kMillisPerHour));
  state_.Put(static_cast<uint64_t>(row.state));
  type_.Put(row.type);
  user_.Put(row.user);
  product_.Put(row.product == kNoDimension ? 0 : uint64_t{row.product} + 1);
  store_.Put(row.store == kNoDimension ? 0 : uint64_t{row.store} + 1);
  position_.Put(row.position);
  versions_.push_back(row.version);
  if (row.state != RowState::kDuplicate)
    notes_.push_back(std::min<uint64_t>(row.user, user_.max()) << 32 | added_);  // (as the column reads)
  ++added_;
}

std::string RowColumnsWriter::Finish() {
  const uint64_t max_version = versions_.empty() ? 0 : *std::max_element(versions_.begin(), versions_.end());
  Packer version(0, max_version, versions_.size());
  for (uint32_t value : versions_) version.Put(value);
  std::sort(notes_.begin(), notes_.end());
  Packer places(0, rows_ == 0 ? 0 : rows_ - 1, notes_.size());
  for (uint64_t note : notes_) places.Put(static_cast<uint32_t>(note));

  std::string out;
  PutFixed<uint32_t>(&out, rows_);
  PutFixed<uint32_t>(&out, static_cast<uint32_t>(notes_.size()));
  PutFixed<uint64_t>(&out, 0);
  const Packer* columns[RowColumns::kColumns] = {&millis_, &state_,  &type_,     &user_, &product_,
                                                 &store_,  &version, &position_, &places};
  for (const Packer* column : columns) column->AppendHeader(&out);
  for (const Packer* column : columns) column->AppendWords(&out);
  versions_ = {};
  notes_ = {};
  return out;
}

Result<RowColumns> RowColumns::FromBytes(std::string_view bytes, std::shared_ptr<const void> owner,
                                         int64_t hour, uint32_t rows) {
  RowColumns columns;
  if (bytes.empty()) return columns;
  auto damaged = [](const std::string& what) { return Status::Corruption("a sealed part's rows: " + what); };
  if (bytes.size() < kHeaderBytes) return damaged("shorter than their header");
  columns.rows_ = GetFixed<uint32_t>(bytes.data());
  columns.notes_ = GetFixed<uint32_t>(bytes.data() + 4);
  if (columns.rows_ != rows || rows == 0) return damaged("not as many as the part's rows");
  if (hour < 0 || hour > HourOf(kMaxTimestampMillis)) return damaged("an hour out of range");
  if (columns.notes_ > rows) return damaged("more notes by user than rows");
  const uint64_t counts[kColumns] = {rows, rows, rows, rows, rows, rows, rows, rows, columns.notes_};
  uint64_t words = 0;
  for (size_t i = 0; i < kColumns; ++i) {
    const char* header = bytes.data() + kCountsBytes + i * kColumnHeaderBytes;
    Packed& column = columns.columns_[i];
    column.base = GetFixed<uint64_t>(header);
    column.max = GetFixed<uint64_t>(header + 8);
    column.width = GetFixed<uint32_t>(header + 16);
    if (column.max < column.base || column.width > 64)
      return damaged("a column's values do not hold together");
    column.words = bytes.data() + kHeaderBytes + words * sizeof(uint64_t);
    words += WordsOf(counts[i], column.width);
  }
  if (words != (bytes.size() - kHeaderBytes) / sizeof(uint64_t) ||
      (bytes.size() - kHeaderBytes) % sizeof(uint64_t) != 0) {
    return damaged("their size does not match their header");
  }
  if (columns.columns_[kMillis].max >= static_cast<uint64_t>(kMillisPerHour) ||
      columns.columns_[kState].max > static_cast<uint64_t>(RowState::kDuplicate)) {
    return damaged("a time or a state out of range");
  }
  columns.bytes_ = bytes;
  columns.owner_ = std::move(owner);
  columns.hour_ = hour;
  return columns;
}

EventRow RowColumns::Row(uint32_t place) const {
  EventRow row{};
  row.timestamp = hour_ * kMillisPerHour + static_cast<Millis>(Column(kMillis).Get(place));
  row.state = static_cast<RowState>(Column(kState).Get(place));
  row.type = static_cast<uint32_t>(Column(kType).Get(place));
  row.user = static_cast<uint32_t>(Column(kUser).Get(place));
  const uint64_t product = Column(kProduct).Get(place);
  row.product = product == 0 ? kNoDimension : static_cast<uint32_t>(product - 1);
  const uint64_t store = Column(kStore).Get(place);
  row.store = store == 0 ? kNoDimension : static_cast<uint32_t>(store - 1);
  row.version = static_cast<uint32_t>(Column(kVersion).Get(place));
  row.position = Column(kPosition).Get(place);
  return row;
}

bool RowColumns::Fits(size_t users, size_t types, size_t products, size_t stores) const {
  return empty() || (Column(kUser).max < users && Column(kType).max < types &&
                     Column(kProduct).max <= products && Column(kStore).max <= stores);
}

}  // namespace tally
