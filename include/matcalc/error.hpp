// The one error type of matcalc, part of the public API. Every user-facing
// failure (syntax, unknown name, shape mismatch, bad values, a matrix outside
// a function's domain, a resource limit, a bad request) is an Error carrying
// its message, its kind and where in the input it is: which text (`source`:
// the expression, the declarations, or none) and the 1-based `column` and
// `length` in it (column 0 when the error has no place in the text). The
// command line prints format_error() and exits with status 2.
#pragma once
#include <stdexcept>
#include <string>

namespace matcalc {

enum class ErrorKind { Syntax, Name, Shape, Inference, Value, Domain, Unsupported, Limit, Usage };

// Which input text an error's column points into.
enum class ErrorSource { None, Expression, Declarations };

const char* error_kind_name(ErrorKind k);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& msg, int column = 0, int length = 1)
      : std::runtime_error(msg), kind_(kind), column_(column), length_(length) {}
  ErrorKind kind() const { return kind_; }
  int column() const { return column_; }
  int length() const { return length_; }
  ErrorSource source() const { return source_; }
  // The same error, located in `source` (the API sets it where it parses).
  Error in(ErrorSource source) const {
    Error e = *this;
    e.source_ = source;
    return e;
  }

 private:
  ErrorKind kind_;
  int column_;
  int length_;
  ErrorSource source_ = ErrorSource::None;
};

// "error: MSG" and, when the error has a column, the source line with a caret.
std::string format_error(const Error& e, const std::string& source);

}  // namespace matcalc
