// Values files (CLI.md): a JSON object mapping every symbol to a number, a
// list (vector) or a list of rows (matrix). Reading checks them against the
// program's symbols: shapes bind the dimension symbols consistently, a
// symmetric symbol's value is symmetric, every entry is finite.
#pragma once
#include <cstddef>
#include <istream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "eval/evaluate.hpp"

namespace matcalc {

// Limits on a values file: deeper nesting or more JSON values is a Limit error
// (never a stack overflow or gigabytes of memory).
inline constexpr int kMaxValuesDepth = 32;
inline constexpr std::size_t kMaxValuesEntries = std::size_t{1} << 24;

// Parses the JSON text of a values file within those limits; `source` names
// it in messages ("values file 'v.json'").
nlohmann::json parse_values_json(std::istream& in, const std::string& source);

Bindings read_values(const nlohmann::json& j, const std::map<std::string, Expr>& symbols);
Bindings read_values_file(const std::string& path, const std::map<std::string, Expr>& symbols);

// A value as JSON in the layout of CLI.md: a number for a scalar, a flat list
// for a vector (n x 1 or 1 x n), a list of rows for a matrix.
nlohmann::json value_to_json(const Matrix& m);

}  // namespace matcalc
