// File system steps that durability depends on, shared by the log and the checkpoints.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "tally/status.h"

namespace tally {

// Writes all of `bytes` to `fd` (retrying short writes and EINTR); `path` names the file in errors.
Status WriteAll(int fd, std::string_view bytes, const std::string& path);
// Creates (or replaces) `path` with `parts` written one after another, then fsyncs it.
Status WriteFileDurably(const std::string& path, std::initializer_list<std::string_view> parts);
// fsync of a directory, so that files created or renamed in it survive a crash.
Status SyncDirectory(const std::string& directory);

}  // namespace tally
