// Eigen / C++ code generation: a self-contained C++17 header-style source
// (it includes only <Eigen/Dense>, <cmath>, <stdexcept> and <string>) that
// defines, in namespace matcalc_generated,
//   struct Inputs    one member per symbol: double for a scalar,
//                    Eigen::VectorXd for a vector (n x 1), Eigen::RowVectorXd
//                    for a 1 x n symbol, Eigen::MatrixXd for a matrix;
//   struct Gradient  one member per --wrt variable, typed likewise (a struct
//                    even for one variable);
//   value(in), gradient(in) and value_and_gradient(in, g), and hessian(in),
//                    jacobian(in) or hvp(in) when the spec has that
//                    second-order output (a MatrixXd for the first two).
// A symbol whose name is a C++ keyword, a macro of the included headers or
// not a valid identifier gets a safe member name (name_ or sym_...), noted in
// a comment beside the member. Dimension symbols are read off the sizes of
// the inputs; input sizes (and the symmetry of symmetric inputs, entry by
// entry) are checked, throwing std::invalid_argument. The code follows the same ideas as the
// NumPy module (see numpy.hpp): shared subexpressions are computed once into
// temporaries, inv(A)*B is a solve with a factorization computed once per
// matrix (LLT for symmetric positive definite nodes, else PartialPivLU; a
// singular matrix throws std::domain_error), logdet comes from that
// factorization and throws std::domain_error when det <= 0, det and products
// with det are computed in a scaled form (a representable result is
// computed; one out of range throws), norm2 is scaled where its squares
// under- or overflow, and sigmoid, softplus, logsumexp and softmax are
// evaluated stably.
#pragma once
#include <string>

#include "print/module_spec.hpp"

namespace matcalc {

struct EigenOptions {
  // The namespace the code is defined in; also names the include guard.
  // Several sources with different namespaces can share one translation unit.
  std::string namespace_name = "matcalc_generated";
};

std::string to_eigen_source(const ModuleSpec& spec);
std::string to_eigen_source(const ModuleSpec& spec, const EigenOptions& options);

}  // namespace matcalc
