#include "tally/status.h"

#include <cstring>

namespace tally {

Status Status::FromErrno(std::string_view context, int error_number) {
  std::string what(context);
  what += ": ";
  what += std::strerror(error_number);
  return IoError(what);
}

std::string Status::message() const {
  if (!rep_) return "ok";
  if (rep_->field.empty()) return rep_->why;
  std::string text = rep_->field;
  text += ": ";
  text += rep_->why;
  return text;
}

}  // namespace tally
