#pragma once
/// Value-or-error for expected failures (bad metadata, unreachable endpoint, unwritable file).
/// Unexpected failures (bugs, allocation) throw and are caught once in the launcher.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace nicsync {

/// A one-line, human-readable reason that names the input and what is wrong with it.
struct Error {
  std::string message;
  /// The errno the kernel refused a change with (Netlink's changes); 0 for every other Error.
  int error_number = 0;
};

/// Holds either a T or an Error. Construct from a T or from an Error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  Result(Error error) : data_(std::move(error)) {}        // NOLINT(google-explicit-constructor)

  bool ok() const { return data_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(data_); }
  const T& value() const& { assert(ok()); return std::get<0>(data_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(data_); }

 private:
  std::variant<T, Error> data_;
};

/// Result for operations that return nothing on success.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

/// Prefixes an error message with context ("aws: " + message).
inline Error with_context(const std::string& context, const Error& error) {
  return Error{context + error.message};
}

}  // namespace nicsync

/// Evaluates a Result expression; on error returns the Error from the enclosing function,
/// otherwise yields nothing. Use NICSYNC_TRY_ASSIGN to keep the value.
#define NICSYNC_TRY(expr)                                  \
  do {                                                     \
    auto nicsync_try_result_ = (expr);                     \
    if (!nicsync_try_result_.ok()) {                       \
      return nicsync_try_result_.error();                  \
    }                                                      \
  } while (false)

#define NICSYNC_CONCAT_INNER_(a, b) a##b
#define NICSYNC_CONCAT_(a, b) NICSYNC_CONCAT_INNER_(a, b)

/// `NICSYNC_TRY_ASSIGN(auto x, parse(...));` declares x from the value, or returns the Error.
#define NICSYNC_TRY_ASSIGN(decl, expr)                                        \
  auto NICSYNC_CONCAT_(nicsync_try_, __LINE__) = (expr);                      \
  if (!NICSYNC_CONCAT_(nicsync_try_, __LINE__).ok()) {                        \
    return NICSYNC_CONCAT_(nicsync_try_, __LINE__).error();                   \
  }                                                                           \
  decl = std::move(NICSYNC_CONCAT_(nicsync_try_, __LINE__)).value()
