// Step-by-step derivations in the differential style, for `matcalc explain`.
//
// A derivation of the scalar f w.r.t. the variable X has two phases:
//  1. Differentiate: starting from df = d(f), apply one rule of the
//     derivative table (diff/derivatives.hpp) per step to the outermost
//     pending differential d(u), until only the symbol dX remains.
//  2. Rearrange: distribute (linearity), then move everything around dX into
//     the left factor of a Frobenius product with the named identities of
//     explain/identities.hpp, until df = G : dX; collect the terms; for a
//     symmetric X use sym(G); end with the gradient exactly as `grad` gives it.
// Every step is an equation between functions of X and dX; tests evaluate
// each step numerically (with random dX) against the directional derivative.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ir/node.hpp"
#include "print/text.hpp"

namespace matcalc {

// One term of a differential: weight : body, or the scalar body alone
// when weight is nullptr.
struct DifferentialTerm {
  Expr weight = nullptr;
  Expr body = nullptr;
};

struct DerivationStep {
  std::string rule;   // a rule book name: a derivative rule, an identity, or "simplify"
  std::string note;   // the rule's statement and what it was used with
  std::vector<DifferentialTerm> terms;  // df after this step: their sum
};

struct Derivation {
  Expr written = nullptr;   // f as written (compiled, not simplified)
  Expr f = nullptr;         // f simplified, as grad differentiates it
  // 1: the gradient's derivation (df = G : dX). 2: the Hessian's, the
  // differential of the gradient G step by step (dG, the Hessian applied to
  // dX), then vec(dG) = H*vec(dX).
  int order = 1;
  Expr differentiated = nullptr;             // what the steps differentiate: f, or (order 2) its gradient
  std::vector<std::string> simplifications;  // rules that turned `written` into `f`
  Expr variable = nullptr;  // X
  Expr dvar = nullptr;      // the symbol dX, of X's shape
  std::vector<DerivationStep> steps;
  Expr gradient = nullptr;  // as `grad` prints it
  Expr hvp = nullptr;       // order 2: dG in normal form, as `hvp` prints it (with dX for V)
  Expr hessian = nullptr;   // order 2: as `hessian` prints it
  std::vector<std::string> vec_rules;  // order 2: the identities that turn dG into H*vec(dX)
  // Names for long repeated subexpressions ("C" for W*W' + s^2*I), in the
  // order they are introduced; steps print with them, results without.
  std::vector<std::pair<std::string, Expr>> abbreviations;
  // Pending differentials d(u) of phase 1 are placeholder symbols. How
  // they, dX and the abbreviations print:
  Spellings text_names, latex_names;
  Spellings plain_latex_names;  // dX only
  std::unordered_map<Expr, Expr> expanded;  // placeholder -> its full differential in dX
};

// The derivation of the scalar `written` w.r.t. the symbol `x`. The name of
// dX is "d" + X's name (with '_' appended while that clashes with a symbol
// of f). Throws matcalc::Error as `grad` does.
Derivation explain(Expr written, Expr x);
// The derivation of the Hessian of the scalar `written` w.r.t. `x`: the
// gradient G, then dG step by step by the same forward rules, then the vec
// identities that give H (order 2).
Derivation explain_hessian(Expr written, Expr x);

// The differential of a step as one expression of the text language in X
// and dX (placeholders replaced by their full differentials): what
// `explain --format json` prints and what the tests evaluate.
std::string step_text(const Derivation& d, const DerivationStep& s);
// The same with pending differentials written d(u): what a reader sees.
std::string step_display(const Derivation& d, const DerivationStep& s);
std::string step_latex(const Derivation& d, const DerivationStep& s);
std::string step_latex_plain(const Derivation& d, const DerivationStep& s);  // no abbreviations

// Declarations of every symbol of the steps, dX last:
// "W: matrix(n,k); s: scalar; dW: matrix(n,k)".
std::string declarations(const Derivation& d);

std::string format_text(const Derivation& d);
std::string format_latex(const Derivation& d);
std::string format_markdown(const Derivation& d);
nlohmann::ordered_json format_json(const Derivation& d);

}  // namespace matcalc
