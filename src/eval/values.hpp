// Values files (CLI.md): a JSON object mapping every symbol to a number, a
// list (vector) or a list of rows (matrix). Reading checks them against the
// program's symbols: shapes bind the dimension symbols consistently, a
// symmetric symbol's value is symmetric, every entry is finite.
#pragma once
#include <cstddef>
#include <istream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "eval/evaluate.hpp"

namespace matcalc {

// Limits on a values file: a larger file, a longer token, deeper nesting or
// more JSON values is a Limit error (never a stack overflow or gigabytes of
// memory). The byte limit is checked before reading (a regular file's size)
// and while reading (a stream); the token limit before parsing, so that the
// JSON lexer never buffers a huge number or string.
inline constexpr std::size_t kMaxValuesBytes = std::size_t{1} << 28;  // 256 MiB
inline constexpr std::size_t kMaxValuesTokenBytes = 4096;
inline constexpr int kMaxValuesDepth = 32;
inline constexpr std::size_t kMaxValuesEntries = std::size_t{1} << 24;

// Parses the JSON text of a values file within those limits; `source` names
// it in messages ("values file 'v.json'"). A key that appears twice in one
// object is a Value error naming it.
nlohmann::json parse_values_json(std::istream& in, const std::string& source);

// What a values file is read against besides the symbols: its name in
// messages, the program's dimension symbols (a key naming one sizes it:
// `"n": 4`) and sizes given elsewhere (eval --dims). Every size must agree
// with the values' shapes.
struct ValuesContext {
  std::string source;                        // "values file 'v.json'"; empty: not named
  std::vector<std::string> dimensions;       // dimension symbols a key may size
  std::map<std::string, std::int64_t> dims;  // sizes from --dims
  // Symbols of one entry that are not scalars (vector(1), matrix(1,1)):
  // their value may be written 3, [3] or [[3]]; a scalar's only 3.
  std::set<std::string> one_entry;
};

Bindings read_values(const nlohmann::json& j, const std::map<std::string, Expr>& symbols,
                     const ValuesContext& context = {});
Bindings read_values_file(const std::string& path, const std::map<std::string, Expr>& symbols,
                          ValuesContext context = {});

// A value as JSON in the layout of CLI.md: a number for a scalar, a flat list
// for a vector (n x 1 or 1 x n), a list of rows for a matrix.
nlohmann::json value_to_json(const Matrix& m);

}  // namespace matcalc
