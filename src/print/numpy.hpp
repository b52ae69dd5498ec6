// NumPy (and PyTorch) code generation: a self-contained Python module that
// defines value(**vars), gradient(**vars) and, when given, hessian(**vars).
// See CLI.md: vectors are 1-D arrays, matrices 2-D, scalars floats;
// dimension symbols are read off the arrays' shapes. inv(A)*B is emitted as
// np.linalg.solve(A, B) and logdet via np.linalg.slogdet; subexpressions used
// more than once are computed once into temporaries.
#pragma once
#include <string>

#include "print/module_spec.hpp"

namespace matcalc {

enum class PyTarget { NumPy, Torch };
std::string to_python_module(const ModuleSpec& spec, PyTarget target = PyTarget::NumPy);

}  // namespace matcalc
