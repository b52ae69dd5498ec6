// Symbolic dimensions: a positive integer coefficient times a product of
// dimension symbols (`3`, `n`, `n*k` for vec of an n x k matrix). Two
// dimensions are equal exactly when they are equal as monomials; matcalc
// never assumes two different symbols denote the same size.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace matcalc {

class Dim {
 public:
  Dim() = default;
  static Dim literal(std::int64_t n);
  static Dim symbol(std::string name);

  bool is_literal() const { return factors_.empty(); }
  bool is_one() const { return factors_.empty() && coeff_ == 1; }
  std::int64_t coeff() const { return coeff_; }
  const std::vector<std::string>& factors() const { return factors_; }  // sorted

  Dim operator*(const Dim& o) const;
  bool operator==(const Dim& o) const = default;
  auto operator<=>(const Dim& o) const = default;

  // Text form, parseable as a dimension: `3`, `n`, `2*n*k`.
  std::string str() const;
  // The value under a binding of the symbols; nullopt when one is unbound.
  std::optional<std::int64_t> value(const std::map<std::string, std::int64_t>& env) const;

 private:
  std::int64_t coeff_ = 1;
  std::vector<std::string> factors_;
};

struct Shape {
  Dim rows, cols;
  static Shape scalar() { return {Dim::literal(1), Dim::literal(1)}; }
  bool is_scalar() const { return rows.is_one() && cols.is_one(); }
  bool is_col() const { return cols.is_one() && !rows.is_one(); }   // a vector
  bool is_row() const { return rows.is_one() && !cols.is_one(); }
  bool is_vector_like() const { return is_col() || is_row(); }
  bool is_square() const { return rows == cols; }
  Shape transposed() const { return {cols, rows}; }
  bool operator==(const Shape& o) const = default;
  // `scalar`, `vector(n)`, `1 x n`, `n x k`
  std::string str() const;
};

}  // namespace matcalc
