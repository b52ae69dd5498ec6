// Hints for names the language does not know: close spellings of the
// built-in functions and the usual aliases from other tools.
#pragma once
#include <string>
#include <string_view>

namespace matcalc {

// "unknown function 'trace'" with a hint where one helps:
// "unknown function 'trace' (matcalc writes the trace tr(X))".
// `argument` is the text of the call's argument where known (X' in a hint
// otherwise): "unknown function 'transpose' (matcalc writes the transpose
// with a postfix ': A')".
std::string unknown_function_message(const std::string& name, const std::string& argument = "");

// Levenshtein distance, for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace matcalc
