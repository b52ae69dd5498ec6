#include "ir/dim.hpp"

#include <algorithm>

#include "ir/error.hpp"

namespace matcalc {

Dim Dim::literal(std::int64_t n) {
  Dim d;
  d.coeff_ = n;
  return d;
}

Dim Dim::symbol(std::string name) {
  Dim d;
  d.factors_.push_back(std::move(name));
  return d;
}

Dim Dim::operator*(const Dim& o) const {
  Dim d;
  if (__builtin_mul_overflow(coeff_, o.coeff_, &d.coeff_))
    throw Error(ErrorKind::Limit, "dimension too large: " + str() + " * " + o.str());
  d.factors_ = factors_;
  d.factors_.insert(d.factors_.end(), o.factors_.begin(), o.factors_.end());
  std::sort(d.factors_.begin(), d.factors_.end());
  return d;
}

std::string Dim::str() const {
  std::string s;
  if (coeff_ != 1 || factors_.empty()) s = std::to_string(coeff_);
  for (const auto& f : factors_) {
    if (!s.empty()) s += '*';
    s += f;
  }
  return s;
}

std::optional<std::int64_t> Dim::value(const std::map<std::string, std::int64_t>& env) const {
  std::int64_t v = coeff_;
  for (const auto& f : factors_) {
    auto it = env.find(f);
    if (it == env.end()) return std::nullopt;
    if (__builtin_mul_overflow(v, it->second, &v)) return std::nullopt;
  }
  return v;
}

std::string Shape::str() const {
  if (is_scalar()) return "scalar";
  if (is_col()) return "vector(" + rows.str() + ")";
  return rows.str() + " x " + cols.str();
}

}  // namespace matcalc
