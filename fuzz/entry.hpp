// Fuzz entry points, shared by the libFuzzer targets (fuzz/fuzz_*.cpp) and the
// regression test (tests/unit/fuzz_regression_test.cpp), so that every input
// that once crashed a target runs through exactly the same code in the normal
// build. Each entry returns normally when matcalc accepts the input or rejects
// it with a matcalc::Error (the expected outcome for bad input); anything else
// (another exception, a broken round trip, a sanitizer report) is a bug.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace matcalc::fuzz {

// parse_expression on the input.
void expression(std::string_view input);
// parse_declarations on the input.
void declarations(std::string_view input);
// The input as a values file for a fixed program (every kind of symbol and a
// product dimension); on success the program and its gradients are evaluated.
void values(std::string_view input);
// The input as a program (declarations, then an expression): typecheck,
// simplify, gradients w.r.t. every symbol when it is a scalar, then each
// result printed as text, compiled back and compared with the original node
// (they must be the same node), and printed as LaTeX and JSON; then explain
// w.r.t. the first symbol (its steps compile back; it ends with grad's answer).
void pipeline(std::string_view input);

// The targets by name ("expression", "declarations", "values", "pipeline"),
// for the regression test; nullptr for an unknown name.
using Entry = void (*)(std::string_view);
Entry entry_by_name(const std::string& name);

}  // namespace matcalc::fuzz
