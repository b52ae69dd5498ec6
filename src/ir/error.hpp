// The one error type of matcalc. Every user-facing failure (syntax, unknown
// name, shape mismatch, bad values, a matrix outside a function's domain, a
// resource limit) is an Error; the command line prints its message and exits
// with status 2. `column` is 1-based, 0 when the error has no place in the
// expression text.
#pragma once
#include <stdexcept>
#include <string>

namespace matcalc {

enum class ErrorKind { Syntax, Name, Shape, Inference, Value, Domain, Unsupported, Limit, Usage };

const char* error_kind_name(ErrorKind k);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& msg, int column = 0, int length = 1)
      : std::runtime_error(msg), kind_(kind), column_(column), length_(length) {}
  ErrorKind kind() const { return kind_; }
  int column() const { return column_; }
  int length() const { return length_; }

 private:
  ErrorKind kind_;
  int column_;
  int length_;
};

// "error: MSG" and, when the error has a column, the source line with a caret.
std::string format_error(const Error& e, const std::string& source);

}  // namespace matcalc
