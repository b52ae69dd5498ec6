#include "ir/error.hpp"

namespace matcalc {

const char* error_kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::Syntax: return "syntax error";
    case ErrorKind::Name: return "unknown name";
    case ErrorKind::Shape: return "shape error";
    case ErrorKind::Inference: return "cannot infer";
    case ErrorKind::Value: return "bad value";
    case ErrorKind::Domain: return "domain error";
    case ErrorKind::Unsupported: return "unsupported";
    case ErrorKind::Limit: return "limit exceeded";
    case ErrorKind::Usage: return "usage error";
  }
  return "error";
}

std::string format_error(const Error& e, const std::string& source) {
  std::string out = std::string("error: ") + e.what() + "\n";
  if (e.column() > 0 && !source.empty() && source.size() <= 2000 &&
      source.find('\n') == std::string::npos) {
    out += "  " + source + "\n  ";
    out += std::string(static_cast<size_t>(e.column() - 1), ' ');
    out += std::string(static_cast<size_t>(e.length() > 0 ? e.length() : 1), '^');
    out += "\n";
  } else if (e.column() > 0) {
    out += "  (at column " + std::to_string(e.column()) + ")\n";
  }
  return out;
}

}  // namespace matcalc
