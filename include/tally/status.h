// Errors as values: every module edge returns a Status or a Result<T>; nothing throws across them.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tally {

class [[nodiscard]] Status {
 public:
  // A caller branches on code(); message() is for people.
  enum class Code {
    kOk = 0,
    kInvalidArgument,  // the client sent something the contract does not allow
    kTooLarge,         // the client sent more than a limit allows (HTTP 413)
    kNotFound,
    kCorruption,   // stored bytes fail their checks
    kIoError,      // the operating system refused (disk full, permission, ...)
    kUnavailable,  // temporarily unable; retrying may succeed
    kInternal,
  };

  Status() = default;  // OK
  Status(const Status& other) : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}
  Status& operator=(const Status& other) {
    rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status Ok() { return Status(); }
  // `field` names what was wrong (a parameter, a JSON field, a flag); message() reads "field: why".
  static Status InvalidArgument(std::string_view field, std::string_view why) {
    return Status(Code::kInvalidArgument, field, why);
  }
  static Status TooLarge(std::string_view field, std::string_view why) {
    return Status(Code::kTooLarge, field, why);
  }
  static Status NotFound(std::string_view what) { return Status(Code::kNotFound, {}, what); }
  static Status Corruption(std::string_view what) { return Status(Code::kCorruption, {}, what); }
  static Status IoError(std::string_view what) { return Status(Code::kIoError, {}, what); }
  static Status Unavailable(std::string_view what) { return Status(Code::kUnavailable, {}, what); }
  static Status Internal(std::string_view what) { return Status(Code::kInternal, {}, what); }
  // The current errno rendered after `context`.
  static Status FromErrno(std::string_view context, int error_number);

  bool ok() const { return rep_ == nullptr; }
  Code code() const { return rep_ ? rep_->code : Code::kOk; }
  std::string_view field() const { return rep_ ? std::string_view(rep_->field) : std::string_view(); }
  std::string_view why() const { return rep_ ? std::string_view(rep_->why) : std::string_view(); }
  std::string message() const;

 private:
  struct Rep {
    Code code;
    std::string field;
    std::string why;
  };
  Status(Code code, std::string_view field, std::string_view why)
      : rep_(std::make_unique<Rep>(Rep{code, std::string(field), std::string(why)})) {}

  std::unique_ptr<Rep> rep_;  // null when OK: the common path allocates nothing
};

// A value or the Status saying why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor): reads like return
  Result(Status status) : status_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace tally

#define TALLY_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::tally::Status tally_status_ = (expr);        \
    if (!tally_status_.ok()) return tally_status_; \
  } while (false)
