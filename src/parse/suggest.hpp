// Hints for names the language does not know: close spellings of the
// built-in functions and the usual aliases from other tools.
#pragma once
#include <string>

namespace matcalc {

// "unknown function 'trace'" with a hint where one helps:
// "unknown function 'trace' (matcalc writes the trace tr(X))".
std::string unknown_function_message(const std::string& name);

}  // namespace matcalc
