#include "ingest/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <memory>

namespace tally {
namespace {

struct InflateStream {
  z_stream stream{};
  bool initialised = false;
  ~InflateStream() {
    if (initialised) inflateEnd(&stream);
  }
};

constexpr int kGzipOnly = 15 + 16;  // the largest window, gzip's header and trailer (not zlib's, not raw)

}  // namespace

Result<std::string> Gunzip(std::string_view compressed, size_t max_bytes) {
  if (compressed.empty()) return Status::InvalidArgument("body", "empty, not gzip");
  InflateStream inflating;
  if (inflateInit2(&inflating.stream, kGzipOnly) != Z_OK)
    return Status::Internal("gzip: zlib could not start");
  inflating.initialised = true;
  z_stream& stream = inflating.stream;
  if (compressed.size() > UINT32_MAX) return Status::TooLarge("body", "larger than 4 GiB compressed");
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  // Room for a typical ratio at first, grown as needed, never past the limit (+1 byte to see it passed).
  out.resize(std::min(max_bytes + 1, std::max<size_t>(compressed.size() * 4, 4096)));
  size_t used = 0;
  while (true) {
    if (used == out.size()) {
      if (out.size() > max_bytes) break;
      out.resize(std::min(max_bytes + 1, out.size() * 2));
    }
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    stream.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - used, UINT32_MAX));
    const uInt room = stream.avail_out;
    const int rc = inflate(&stream, Z_NO_FLUSH);
    used += room - stream.avail_out;
    if (used > max_bytes) break;
    if (rc == Z_STREAM_END) {
      if (stream.avail_in == 0) {
        out.resize(used);
        return out;
      }
      // Another member follows (a concatenation of gzip files is one gzip file).
      if (inflateReset(&stream) != Z_OK) return Status::Internal("gzip: zlib could not restart");
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && stream.avail_out > 0) {
      return Status::InvalidArgument("body", "not valid gzip (it ends before its last member does)");
    }
    if (rc == Z_BUF_ERROR) continue;  // no room: grown at the top
    const char* why = stream.msg != nullptr ? stream.msg : "corrupt data";
    return Status::InvalidArgument("body", std::string("not valid gzip (") + why + ")");
  }
  return Status::TooLarge("body", "larger than " + std::to_string(max_bytes) + " bytes once decompressed");
}

}  // namespace tally
