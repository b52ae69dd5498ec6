// Small matrices written inline in tests: mat({{1, 2}, {3, 4}}) by rows, or
// M(2, 2, {1, 2, 3, 4}) with the sizes first (row by row), V({1, 2}) a column.
#pragma once
#include <Eigen/Dense>
#include <initializer_list>

namespace matcalc::testing {

inline Eigen::MatrixXd mat(std::initializer_list<std::initializer_list<double>> rows) {
  Eigen::MatrixXd m(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(rows.begin()->size()));
  Eigen::Index i = 0;
  for (auto& r : rows) {
    Eigen::Index j = 0;
    for (double v : r) m(i, j++) = v;
    ++i;
  }
  return m;
}

inline Eigen::MatrixXd M(Eigen::Index r, Eigen::Index c, std::initializer_list<double> rowwise) {
  Eigen::MatrixXd m(r, c);
  auto it = rowwise.begin();
  for (Eigen::Index i = 0; i < r; ++i)
    for (Eigen::Index j = 0; j < c; ++j) m(i, j) = *it++;
  return m;
}

inline Eigen::MatrixXd V(std::initializer_list<double> v) { return M(static_cast<Eigen::Index>(v.size()), 1, v); }

}  // namespace matcalc::testing
