#include "ir/error.hpp"

#include <algorithm>

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
  if (e.column() <= 0) return out;
  // Show the source line that holds the column, with a caret under it.
  std::size_t offset = static_cast<std::size_t>(e.column() - 1);
  if (offset > source.size()) return out + "  (at column " + std::to_string(e.column()) + ")\n";
  std::size_t begin = source.rfind('\n', offset == 0 ? 0 : offset - 1);
  begin = (begin == std::string::npos || offset == 0) ? 0 : begin + 1;
  if (offset > 0 && source[offset - 1] == '\n') begin = offset;
  std::size_t end = source.find('\n', begin);
  std::string line = source.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
  std::size_t col = offset - begin;
  constexpr std::size_t kWindow = 100;  // long lines: show the part around the column
  std::size_t from = col > kWindow ? col - kWindow : 0;
  std::string shown = line.substr(from, 2 * kWindow);
  for (char& c : shown)
    if (c == '\t' || c == '\r') c = ' ';
  out += "  " + std::string(from > 0 ? "..." : "") + shown + "\n  ";
  out += std::string((from > 0 ? 3 : 0) + col - from, ' ');
  out += std::string(static_cast<std::size_t>(std::max(1, std::min(e.length(), 80))), '^');
  out += "\n";
  return out;
}

}  // namespace matcalc
