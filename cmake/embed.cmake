# Writes OUTPUT, a C++ file defining `std::string_view tally::assets::SYMBOL()` that returns INPUT's bytes,
# so static files are compiled into the binary. Run as: cmake -DINPUT=.. -DOUTPUT=.. -DSYMBOL=.. -P embed.cmake
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR byte_count "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by cmake/embed.cmake; do not edit.\n"
  "#include <string_view>\n"
  "namespace tally::assets {\n"
  "namespace { constexpr char kBytes[] = {${bytes} 0}; }\n"
  "std::string_view ${SYMBOL}() { return {kBytes, ${byte_count}}; }\n"
  "}  // namespace tally::assets\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
