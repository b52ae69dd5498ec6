// NumPy (and PyTorch) code generation: a self-contained Python module that
// defines value(**vars), gradient(**vars) and value_and_gradient(**vars) and,
// when given, hessian(**vars), jacobian(**vars) or hvp(**vars).
// See CLI.md: vectors are 1-D arrays, matrices 2-D, scalars floats;
// dimension symbols are read off the arrays' shapes. inv(A)*B is emitted as
// a solve (np.linalg.solve) with A's reciprocal condition number checked as
// matcalc eval checks it, logdet via np.linalg.slogdet, det and products with
// det in a scaled form, norm2 scaled where its squares under- or overflow,
// symmetric inputs checked; what eval refuses raises ValueError.
// Subexpressions used more than once are computed once into temporaries.
#pragma once
#include <string>

#include "print/module_spec.hpp"

namespace matcalc {

enum class PyTarget { NumPy, Torch };
std::string to_python_module(const ModuleSpec& spec, PyTarget target = PyTarget::NumPy);

}  // namespace matcalc
