// The rearrangement identities that `matcalc explain` uses to bring a
// differential into the form df = G : dX, as data: each row is an equation
// lhs = rhs in the text language, with declarations for its symbols (so a
// test can evaluate both sides on random inputs) and its conditions. The
// rule book (`matcalc rules`) prints this table beside the derivative table
// (diff/derivatives.hpp) and the simplification rules (simplify/rules.hpp).
#pragma once
#include <string_view>
#include <vector>

namespace matcalc {

struct Identity {
  const char* name;          // kebab-case; explain's steps name it
  const char* lhs;
  const char* rhs;
  const char* declarations;  // e.g. "A: matrix(n,m); X: matrix(n,m)"
  const char* conditions;    // e.g. "S symmetric"; empty when none
  const char* reference;     // equation number in the Matrix Cookbook (Petersen & Pedersen, 2012), if any
};

const std::vector<Identity>& rearrangement_identities();
// The row named `name`; std::logic_error when there is none (a typo in code).
const Identity& identity_named(std::string_view name);

}  // namespace matcalc
