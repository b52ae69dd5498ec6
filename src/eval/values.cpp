// Values files (see values.hpp). Guarantees: read_values either returns
// Bindings in which every symbol has a finite value of its declared shape,
// every dimension symbol used by a symbol's shape is bound consistently, and
// symmetric symbols hold exactly symmetric values; or it throws a Value error
// that names the symbol (and dimension) at fault. Nothing is guessed: a
// scalar is never broadcast, a matrix never flattened.
#include "eval/values.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "ir/error.hpp"

namespace matcalc {

namespace {

using json = nlohmann::json;
using Index = Eigen::Index;

[[noreturn]] void value_error(const std::string& msg) { throw Error(ErrorKind::Value, msg); }

std::string sz(Index r, Index c) { return std::to_string(r) + " x " + std::to_string(c); }

// What the JSON value looks like, before it is matched to a shape.
struct Parsed {
  enum class Form { Number, List, Rows } form;
  Matrix m;  // Number: 1x1; List: n x 1; Rows: r x c
  std::string describe() const {
    switch (form) {
      case Form::Number: return "a number";
      case Form::List: return "a list of " + std::to_string(m.rows()) + " numbers";
      case Form::Rows: return "a " + sz(m.rows(), m.cols()) + " list of rows";
    }
    return "";
  }
};

// A JSON value as shown in a message: its first characters only.
std::string shown(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

double entry(const json& v, const std::string& name, const std::string& where) {
  if (!v.is_number())
    value_error("the value of '" + name + "' has " + where + " " + shown(v) + ", which is not a number");
  double d = v.get<double>();
  if (!std::isfinite(d)) value_error("the value of '" + name + "' has a non-finite entry " + where);
  return d;
}

// A matrix is a list of rows: an entry that is itself a list is one level
// too many.
[[noreturn]] void nested_too_deeply(const std::string& name, const std::string& source) {
  value_error((source.empty() ? "" : source + ": ") + "'" + name +
              "' is nested too deeply (a matrix is a list of rows)");
}

Parsed parse_value(const json& v, const std::string& name, const std::string& source) {
  if (v.is_number()) return {Parsed::Form::Number, Matrix::Constant(1, 1, entry(v, name, "the entry"))};
  if (!v.is_array())
    value_error("the value of '" + name + "' is " + shown(v) +
                "; expected a number, a list of numbers or a list of rows");
  if (v.empty()) value_error("the value of '" + name + "' is an empty list");
  if (v[0].is_array()) {
    Index r = static_cast<Index>(v.size()), c = static_cast<Index>(v[0].size());
    if (c == 0) value_error("the value of '" + name + "' has an empty row");
    Matrix m(r, c);
    for (Index i = 0; i < r; ++i) {
      const json& row = v[static_cast<std::size_t>(i)];
      if (!row.is_array())
        value_error("the value of '" + name + "' mixes rows and numbers (entry " +
                    std::to_string(i + 1) + " is not a row)");
      if (static_cast<Index>(row.size()) != c)
        value_error("the value of '" + name + "' has ragged rows: row 1 has " + std::to_string(c) +
                    " entries, row " + std::to_string(i + 1) + " has " + std::to_string(row.size()));
      for (Index j = 0; j < c; ++j) {
        if (row[static_cast<std::size_t>(j)].is_array()) nested_too_deeply(name, source);
        m(i, j) = entry(row[static_cast<std::size_t>(j)], name,
                        "at row " + std::to_string(i + 1) + ", column " + std::to_string(j + 1));
      }
    }
    return {Parsed::Form::Rows, std::move(m)};
  }
  Matrix m(static_cast<Index>(v.size()), 1);
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i].is_array())
      value_error("the value of '" + name + "' mixes numbers and rows (entry " +
                  std::to_string(i + 1) + " is a list)");
    m(static_cast<Index>(i), 0) = entry(v[i], name, "at entry " + std::to_string(i + 1));
  }
  return {Parsed::Form::List, std::move(m)};
}

// Matches a parsed value to a symbol's shape kind; throws expected-vs-got.
Matrix fit_to_shape(const Parsed& p, Expr sym, bool one_entry) {
  const Shape& s = sym->shape;
  auto mismatch = [&]() -> Matrix {
    value_error("the value of '" + sym->name + "' should be " +
                (s.is_scalar() ? std::string("a scalar")
                 : s.is_col()  ? "a vector (" + s.str() + ")"
                 : s.is_row()  ? "a row vector (" + s.str() + ")"
                               : "a matrix (" + s.str() + ")") +
                ", got " + p.describe());
  };
  if (s.is_scalar()) {
    // A vector(1) or matrix(1,1): a number, [x] or [[x]]. A scalar: a number.
    if (p.form != Parsed::Form::Number && !(one_entry && p.m.size() == 1)) return mismatch();
    return p.m;
  }
  if (s.is_col()) {
    if (p.form == Parsed::Form::List) return p.m;
    if (p.form == Parsed::Form::Rows && p.m.cols() == 1) return p.m;  // [[1],[2],[3]]
    return mismatch();
  }
  if (s.is_row()) {
    if (p.form == Parsed::Form::List) return p.m.transpose();          // a flat list
    if (p.form == Parsed::Form::Rows && p.m.rows() == 1) return p.m;   // [[1,2,3]]
    return mismatch();
  }
  if (p.form != Parsed::Form::Rows) return mismatch();
  return p.m;
}

// One requirement "dimension d of symbol `who` has size `size`".
struct DimFact {
  Dim d;
  std::int64_t size;
  std::string who;
  const char* axis;  // "rows" or "columns"
};

struct DimBinder {
  std::map<std::string, std::pair<std::int64_t, std::string>> bound;  // dim -> (size, from symbol)

  std::string source(const std::string& f) const { return bound.at(f).second; }

  // Binds or checks a plain symbol `n` (coefficient 1).
  void bind_plain(const std::string& f, const DimFact& x) {
    auto [it, fresh] = bound.emplace(f, std::make_pair(x.size, x.who));
    if (!fresh && it->second.first != x.size)
      value_error("dimension " + f + " is " + std::to_string(it->second.first) + " from " +
                  it->second.second + " but " + std::to_string(x.size) + " from " + x.who);
  }

  // Tries to settle a fact; false when two or more of its symbols are unbound.
  bool settle(const DimFact& x) {
    const Dim& d = x.d;
    if (d.is_literal()) {
      if (d.coeff() != x.size)
        value_error("'" + x.who + "' needs " + std::to_string(d.coeff()) + " " + x.axis +
                    ", its value has " + std::to_string(x.size));
      return true;
    }
    if (d.coeff() == 1 && d.factors().size() == 1) {
      bind_plain(d.factors()[0], x);
      return true;
    }
    std::int64_t known = d.coeff();
    std::vector<std::string> unbound;
    for (const auto& f : d.factors()) {
      auto it = bound.find(f);
      if (it == bound.end()) {
        if (std::find(unbound.begin(), unbound.end(), f) == unbound.end()) unbound.push_back(f);
      } else {
        known *= it->second.first;
      }
    }
    if (unbound.empty()) {
      if (known != x.size) {
        std::string how;
        std::set<std::string> named;  // n*n names n once
        for (const auto& f : d.factors())
          if (named.insert(f).second)
            how +=
                (how.empty() ? "" : ", ") + f + " = " + std::to_string(bound.at(f).first) + " (from " + source(f) + ")";
        value_error("dimension " + d.str() + " of '" + x.who + "' (its " + x.axis + ") is " +
                    std::to_string(x.size) + " in its value, but " + how + " make it " +
                    std::to_string(known));
      }
      return true;
    }
    // One unknown symbol, possibly repeated (n*n): solve for it exactly.
    if (unbound.size() == 1) {
      const std::string& f = unbound[0];
      int power = static_cast<int>(std::count(d.factors().begin(), d.factors().end(), f));
      if (known <= 0 || x.size % known != 0)
        value_error("dimension " + d.str() + " of '" + x.who + "' cannot be " +
                    std::to_string(x.size));
      std::int64_t rest = x.size / known;
      auto root = static_cast<std::int64_t>(std::llround(std::pow(double(rest), 1.0 / power)));
      std::int64_t check = 1;
      for (int i = 0; i < power; ++i) check *= root;
      if (root < 1 || check != rest)
        value_error("dimension " + d.str() + " of '" + x.who + "' cannot be " +
                    std::to_string(x.size));
      bind_plain(f, {Dim::symbol(f), root, x.who, x.axis});
      return true;
    }
    return false;
  }
};

// Symmetric within rounding, pair by pair: |a_ij - a_ji| <= kSymmetryTol *
// max(|a_ij|, |a_ji|, sqrt(|a_ii| |a_jj|)). The relative part compares each
// pair with itself, so a large entry elsewhere never hides an asymmetry
// (S = [[1e10, 1], [0, 1]] is refused). The floor sqrt(|a_ii| |a_jj|) is the
// scale of rounding in a computed Gram matrix (|(BB')_ij| <= sqrt(a_ii a_jj),
// and its error is eps times that), so entries that are near zero only by
// cancellation may differ in their last bits, or in sign, without being
// refused; where the diagonal is zero the test is purely relative.
constexpr double kSymmetryTol = 1e-10;

void check_symmetric(Matrix& m, const std::string& name) {
  const Index n = m.rows();
  Index bi = -1, bj = -1;
  double worst = 0;  // the largest |a_ij - a_ji| / bound among failing pairs
  for (Index j = 0; j < n; ++j)
    for (Index i = j + 1; i < n; ++i) {
      const double a = m(i, j), b = m(j, i);
      const double scale =
          std::max({std::fabs(a), std::fabs(b), std::sqrt(std::fabs(m(i, i))) * std::sqrt(std::fabs(m(j, j)))});
      const double diff = std::fabs(a - b), bound = kSymmetryTol * scale;
      if (diff > bound) {
        const double ratio = bound > 0 ? diff / bound : std::numeric_limits<double>::infinity();
        if (bi < 0 || ratio > worst) {
          worst = ratio;
          bi = i;
          bj = j;
        }
      }
    }
  if (bi >= 0) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "entries (%ld,%ld) = %.10g and (%ld,%ld) = %.10g differ", long(bj + 1), long(bi + 1),
                  m(bj, bi), long(bi + 1), long(bj + 1), m(bi, bj));
    value_error("'" + name + "' is declared symmetric but its value is not: " + buf + " (more than a relative 1e-10)");
  }
  // Exact symmetry from here on: Cholesky and the symmetric FD convention
  // rely on it.
  m = (0.5 * (m + m.transpose())).eval();  // eval(): m.transpose() aliases m
}

// The size a key of the values file gives a dimension: a positive integer.
std::int64_t dimension_size(const json& v, const std::string& dim, const std::string& source) {
  const std::string where = source.empty() ? "the values file" : source;
  if (v.is_number_unsigned() && v.get<std::uint64_t>() >= 1 && v.get<std::uint64_t>() <= (std::uint64_t{1} << 27))
    return static_cast<std::int64_t>(v.get<std::uint64_t>());
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d >= 1 && d <= double(std::int64_t{1} << 27) && d == std::floor(d)) return static_cast<std::int64_t>(d);
  }
  value_error(where + " sizes the dimension '" + dim + "' with " + shown(v) + "; a size is a positive integer up to " +
              std::to_string(std::int64_t{1} << 27));
}

}  // namespace

Bindings read_values(const json& j, const std::map<std::string, Expr>& symbols, const ValuesContext& context) {
  if (!j.is_object())
    value_error("the values file must hold a JSON object mapping symbols to values, not " +
                std::string(j.type_name() == std::string("array") ? "an " : "a ") + j.type_name());
  // Keys that are not symbols of this expression are ignored: one values file
  // serves a function and its printed gradient, which may mention fewer symbols.
  std::string missing;
  for (const auto& [name, sym] : symbols)
    if (!j.contains(name)) missing += (missing.empty() ? "'" : ", '") + name + "'";
  if (!missing.empty()) value_error("values file has no value for " + missing);

  Bindings b;
  std::vector<DimFact> facts;
  for (const auto& [name, sym] : symbols) {
    Matrix m = fit_to_shape(parse_value(j.at(name), name, context.source), sym, context.one_entry.count(name) > 0);
    facts.push_back({sym->shape.rows, m.rows(), name, "rows"});
    facts.push_back({sym->shape.cols, m.cols(), name, "columns"});
    if (sym->symmetric && m.rows() != m.cols())
      value_error("'" + name + "' is declared symmetric but its value is " + sz(m.rows(), m.cols()));
    if (sym->symmetric && m.size() > 1) check_symmetric(m, name);
    b.values.emplace(name, std::move(m));
  }

  // Plain dimensions first (they give the clearest conflict messages), then
  // products until nothing changes.
  std::stable_partition(facts.begin(), facts.end(), [](const DimFact& f) {
    return f.d.is_literal() || (f.d.coeff() == 1 && f.d.factors().size() == 1);
  });
  DimBinder binder;
  // Sizes given outright first: a shape that disagrees is reported against them.
  for (const auto& [dim, size] : context.dims) binder.bind_plain(dim, {Dim::symbol(dim), size, "--dims", "size"});
  for (const std::string& dim : context.dimensions)
    if (j.contains(dim) && !symbols.count(dim))
      binder.bind_plain(
          dim, {Dim::symbol(dim), dimension_size(j.at(dim), dim, context.source), "the key \"" + dim + "\"", "size"});
  std::vector<DimFact> pending;
  for (const auto& f : facts)
    if (!binder.settle(f)) pending.push_back(f);
  while (!pending.empty()) {
    std::vector<DimFact> still;
    for (const auto& f : pending)
      if (!binder.settle(f)) still.push_back(f);
    if (still.size() == pending.size()) {
      const auto& f = still.front();
      value_error("cannot tell the dimensions of " + f.d.str() + " = " + std::to_string(f.size) +
                  " (the " + f.axis + " of '" + f.who + "') apart; give a value that fixes them");
    }
    pending = std::move(still);
  }
  for (const auto& [dim, v] : binder.bound) {
    if (symbols.count(dim))
      value_error("'" + dim + "' is both a symbol and a dimension");
    b.dims[dim] = v.first;
  }
  return b;
}

namespace {

std::string limit_bytes_message(const std::string& source) {
  return source + " is larger than " + std::to_string(kMaxValuesBytes) + " bytes (limit " +
         std::to_string(kMaxValuesBytes >> 20) + " MiB)";
}

// The whole text, or a Limit error past kMaxValuesBytes (never more than that
// many bytes are read).
std::string read_bounded(std::istream& in, const std::string& source) {
  std::string text;
  // A seekable stream (a file) tells its size before anything is read.
  const std::istream::pos_type start = in.tellg();
  if (start != std::istream::pos_type(-1) && in.seekg(0, std::ios::end)) {
    const std::istream::pos_type end = in.tellg();
    in.seekg(start);
    if (end != std::istream::pos_type(-1) && end - start > static_cast<std::streamoff>(kMaxValuesBytes))
      throw Error(ErrorKind::Limit, limit_bytes_message(source));
  }
  in.clear();
  constexpr std::size_t kChunk = std::size_t{1} << 16;
  char buf[kChunk];
  while (in) {
    in.read(buf, kChunk);
    const auto got = static_cast<std::size_t>(in.gcount());
    if (text.size() + got > kMaxValuesBytes) throw Error(ErrorKind::Limit, limit_bytes_message(source));
    text.append(buf, got);
  }
  if (in.bad()) value_error("cannot read " + source);
  return text;
}

// No token (a number, a literal, a string with its quotes) longer than
// kMaxValuesTokenBytes: nlohmann's lexer buffers a token twice over, so one
// huge token would cost gigabytes. A run of characters that are neither
// whitespace nor structural is one token outside strings.
void check_tokens(const std::string& text, const std::string& source) {
  auto too_long = [&](std::size_t at) {
    throw Error(ErrorKind::Limit, source + " has a token longer than " + std::to_string(kMaxValuesTokenBytes) +
                                      " bytes at byte " + std::to_string(at + 1) + " (limit " +
                                      std::to_string(kMaxValuesTokenBytes) + " bytes per number or string)");
  };
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '[' || c == ']' || c == '{' || c == '}' || c == ',' ||
        c == ':') {
      ++i;
      continue;
    }
    const std::size_t start = i;
    if (c == '"') {
      ++i;
      while (i < n && text[i] != '"') i += text[i] == '\\' ? 2 : 1;
      ++i;  // the closing quote (or past the end: the parser reports it)
    } else {
      while (i < n) {
        const char d = text[i];
        if (d == ' ' || d == '\t' || d == '\n' || d == '\r' || d == '[' || d == ']' || d == '{' || d == '}' ||
            d == ',' || d == ':' || d == '"')
          break;
        ++i;
      }
    }
    if (i - start > kMaxValuesTokenBytes) too_long(start);
  }
}

}  // namespace

json parse_values_json(std::istream& in, const std::string& source) {
  std::string text;
  try {
    text = read_bounded(in, source);
  } catch (const std::bad_alloc&) {
    throw Error(ErrorKind::Limit, source + " is too large to read into memory");
  }
  check_tokens(text, source);
  std::size_t count = 0;
  // The keys seen in each open object, innermost last: a key twice is an error.
  std::vector<std::set<std::string>> keys;
  // Called for every event while parsing, before the value is stored.
  json::parser_callback_t limit = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxValuesDepth)
      throw Error(ErrorKind::Limit, source + " is nested too deeply (limit " + std::to_string(kMaxValuesDepth) +
                                        " levels)");
    switch (event) {
      case json::parse_event_t::object_start: keys.emplace_back(); break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && parsed.is_string() && !keys.back().insert(parsed.get<std::string>()).second)
          value_error(source + " has the key \"" + parsed.get<std::string>() +
                      "\" twice in one object (which value is meant is unclear)");
        break;
      case json::parse_event_t::value:
        if (++count > kMaxValuesEntries)
          throw Error(ErrorKind::Limit,
                      source + " holds too many values (limit " + std::to_string(kMaxValuesEntries) + " numbers)");
        break;
      default: break;
    }
    return true;
  };
  try {
    return json::parse(text, limit);
  } catch (const json::exception& e) {
    std::string what = e.what();  // "last read: '...'" may quote a whole token
    value_error(source + " is not valid JSON: " + (what.size() > 200 ? what.substr(0, 197) + "..." : what));
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Error(ErrorKind::Limit, source + " is too large to read into memory");
  } catch (const std::exception& e) {
    value_error("cannot read " + source + ": " + e.what());
  }
}

Bindings read_values_file(const std::string& path, const std::map<std::string, Expr>& symbols, ValuesContext context) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) value_error("values file '" + path + "' is a directory");
  context.source = "values file '" + path + "'";
  // A regular file's size is known before reading it (a pipe's is checked while reading).
  if (std::filesystem::is_regular_file(path, ec)) {
    const auto bytes = std::filesystem::file_size(path, ec);
    if (!ec && bytes > kMaxValuesBytes) throw Error(ErrorKind::Limit, limit_bytes_message(context.source));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) value_error("cannot read values file '" + path + "': " + std::strerror(errno));
  return read_values(parse_values_json(in, context.source), symbols, context);
}

json value_to_json(const Matrix& m) {
  if (m.rows() == 1 && m.cols() == 1) return m(0, 0);
  if (m.cols() == 1 || m.rows() == 1) {
    json a = json::array();
    for (Index i = 0; i < m.size(); ++i) a.push_back(m.data()[i]);  // either way one run
    return a;
  }
  json rows = json::array();
  for (Index i = 0; i < m.rows(); ++i) {
    json r = json::array();
    for (Index k = 0; k < m.cols(); ++k) r.push_back(m(i, k));
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace matcalc
