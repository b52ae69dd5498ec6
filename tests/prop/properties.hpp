// Property checks over generated expressions (see generator.hpp), shrinking
// of failures to a minimal case, and the report a developer can paste into
// `matcalc check`.
//
// For a scalar expression f over the symbol pool and each variable X of it:
//   value      the engine's value of the compiled (normal-form) expression
//              and of simplify(f) equal the value of the independent oracle
//              (tests/rules/oracle.hpp) on the parsed syntax tree;
//   print      to_text of simplify(f), and of every gradient, parses and
//              compiles back to an expression of the same value;
//   gradient   the symbolic gradient (gradients of simplify(f), as
//              `matcalc check` takes it) matches central finite differences;
//   sum-rule   grad(f + g) = grad(f) + grad(g) for a second expression g;
//   transpose  for a (non-symmetric) matrix variable X, the gradient of
//              f(X') at X0 is the transpose of grad f at X0';
//   explain    every step of `explain` w.r.t. the first variable, parsed back
//              from its text, equals grad : dX for a fixed dX;
//   fixed-point  every node of the compiled f, of simplify(f), of each
//              gradient and of each simplified gradient, rebuilt from its
//              own arguments through the builders (rebuild(e, e->kids)), is
//              the same node: the normal form is a fixed point of the
//              builders. Leaves have no arguments and are not rebuilt (apply
//              cannot make one: its payload is all there is);
//   idempotent simplify(simplify(e)) == simplify(e) for the compiled f and
//              for each gradient. Known failure, tolerated and counted (see
//              Outcome::known): the simplifier does not offer the rules a
//              node that the builders make while rebuilding its parent, so
//              sum(log(exp(2*x)) .* y) simplifies to 2*sum(x .* y) and only a
//              second pass finds sum(x .* y) = x'*y. A case counts as that
//              one when the first rule of the second pass fires at a node
//              that the first pass neither started from nor got from a rule,
//              and a third pass changes nothing; anything else fails
//              (prop_test.cpp, KnownFailure, says when it is fixed);
//   engine     none of the above throws on a well-typed input in the domain;
//   inference  f without its declarations, with only the scalar requirement
//              (Session::load, as `grad` loads it): inference either fails
//              with an Inference error (a tie) or a Limit error (counted,
//              not failures), or gives the generator's types (up to the
//              names of dimensions; symmetric counts as matrix), or another
//              reading that must be equally valid: its program, declared
//              with the inferred declaration_text(), has a gradient that
//              agrees with finite differences (the gradient property at
//              values of the inferred shapes). Any other error, a crash or
//              a wrong gradient fails. Outcome::inference says which.
//   hessian    for each variable X, and each pair X, Y of the first three
//              variables, the Hessian block (diff/jacobian.hpp,
//              hessian(f, X, Y) of simplify(f)) times vec(D) matches central
//              differences of the evaluated gradient w.r.t. X along D in Y,
//              for D every entry of Y (for a symmetric Y: E_ii and
//              E_ij + E_ji, the convention of Y -> f(sym(Y)) in full vec
//              coordinates);
//   hessian-symmetric  each diagonal block, evaluated, is a symmetric
//              matrix, and the block (Y, X) is the transpose of (X, Y);
//   hvp        hvp(f, X, D) at a fixed direction D (symmetric for a
//              symmetric X) equals H*vec(D);
//   hessian-print  the text of every block and hvp compiles back (with D
//              declared as X is) to the same value.
//   A second-order result too large to build, evaluate or print (a Limit
//   error) is skipped, and counted (Outcome::skipped).
#pragma once
#include <Eigen/Dense>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "generator.hpp"
#include "ir/node.hpp"

namespace matcalc::prop {

using Matrix = Eigen::MatrixXd;

enum class Property {
  Engine,
  Value,
  Print,
  Gradient,
  SumRule,
  Transpose,
  Explain,
  FixedPoint,
  Idempotent,
  Inference,
  Domain,           // extreme cases: outside the domain, an error, never a number
  ExtremeValue,     // extreme cases: a number, where there is one, agrees with the long-double oracle
  ExtremeGradient,  // extreme cases: a gradient agrees with central differences where they are meaningful
  Hessian,
  HessianSymmetric,
  Hvp,
  HessianPrint,
};
const char* property_name(Property p);
std::optional<Property> property_from_name(const std::string& s);

struct Case {
  std::uint64_t seed = 0;       // the case seed it was generated from
  GNodeP f, g;                  // g: the partner for the sum rule (may be null)
  std::map<std::string, long> dims;
  std::map<std::string, Matrix> values;  // every symbol of the pool
  // An extreme draw (generator.hpp): its kind and what was done, and, for a
  // singular matrix put under inv/logdet, the text of that inverting node
  // (while f contains it, f has no value at any point).
  Extreme extreme = Extreme::None;
  std::string extreme_what;
  std::string undefined_node;
};

// Values for every symbol of the pool at sizes n and k: symmetric ones
// positive definite (eigenvalues in [1, 3]), scalars in +-[0.3, 1.5], other
// entries in [-1.2, 1.2].
std::map<std::string, Matrix> draw_values(Rng& rng, long n, long k);

// A case from a case seed: dimensions, input values, f and g.
Case make_case(std::uint64_t case_seed, const GenOptions& opt);

struct Outcome {
  enum class Status { Pass, Fail, Discard } status = Status::Pass;
  Property property = Property::Engine;
  std::string wrt;     // the variable, where the property has one
  std::string detail;  // what disagreed, by how much
  std::string known;   // a passing case: the known failure it hit and tolerated, if any
  // a passing case: what inference without declarations gave ("same types",
  // "equally valid", "inference error", "limit error", "other reading,
  // unchecked ..."); empty where it was not run
  std::string inference;
  // a passing case: why a second-order property was not checked (a Limit
  // error building or evaluating the Hessian); empty where all were
  std::string skipped;
};

// The declarations of the pool symbols that occur in `text`.
std::string declarations_for(const std::string& text);

// Runs the properties on expression texts at the given point. `magnitude`
// is the largest intermediate value (absolute tolerances scale with it).
// With `only`, just that property is checked. `f_oracle` is f for the
// oracle, which needs eye(n) for I (empty: f itself). `decl`: the
// declarations of f's symbols (empty: the pool's, declarations_for(f)).
Outcome check_texts(const std::string& f, const std::string& g, const std::map<std::string, long>& dims,
                    const std::map<std::string, Matrix>& values, double magnitude,
                    std::optional<Property> only = std::nullopt, const std::string& f_oracle = "",
                    const std::string& decl = "");

// The properties of an extreme case (no screening; check_case calls it):
//   domain    where the literal expression has no value -- the long-double
//             oracle meets a log/sqrt of a non-positive or negative entry, a
//             fractional power of a negative one, a zero divisor, a singular
//             matrix under inv/logdet (or f contains `undefined_node`) -- or
//             a `symmetric` value is asymmetric beyond the documented 1e-10
//             per pair, compiling, reading the values (as `eval` reads a
//             values file) or evaluating f throws matcalc::Error: never a
//             number;
//   extreme-value  elsewhere, a value that evaluate returns (normal form and
//             simplified) agrees with the long-double oracle, unless that is
//             not finite; the tolerance is derived from the point: the
//             spread of the oracle's value under relative perturbations of
//             8 eps of every input and intermediate (rounding, the condition
//             of the computation), plus an underflow floor;
//   extreme-gradient  at extreme magnitudes and literals, a gradient that
//             evaluate returns agrees with central differences (relative
//             steps) wherever two step sizes agree with each other (the
//             differences are meaningful), within the noise of f's
//             rounding over the step.
// Known failures, tolerated and counted (Outcome::known; each pinned by a
// PropertyKnownFailure test in prop_test.cpp, to be removed with its fix):
//   domain: logdet (and log(det)) of a singular matrix is a number;
//     det(inv(X)) = 1/det(X) drops the singularity check of inv; softmax of
//     a scalar folds to 1; an entrywise division by a zero array, and kron
//     with a zero factor, fold to zeros -- each dropping a domain condition;
//   extreme-value: an intermediate value of the literal expression outside
//     the normal range of double (the double computation may lose it);
//   extreme-gradient: a gradient formula that is right in long double but
//     ill-conditioned at the point (terms that cancel catastrophically:
//     x + tanh(x) - x .* tanh(x).^2) or whose intermediates under- or
//     overflow in double (x.^3 at 1e-150).
Outcome check_extreme(const Case& c, std::optional<Property> only = std::nullopt);

// The inference property (above) of a screened case.
Outcome check_inference(const Case& c, double magnitude);

// Screens the case numerically (every subexpression finite and of moderate
// size, kink arguments away from their kinks, positive arguments positive):
// nullopt when it passes, else the reason. `magnitude` gets the largest
// intermediate value.
std::optional<std::string> screen(const Case& c, double* magnitude);

// screen + check_texts, then (without `only`, or with only Inference)
// check_inference. A case that fails the screening is a Discard.
Outcome check_case(const Case& c, std::optional<Property> only = std::nullopt);

// Case `index` of a run: generated from case_seed(run_seed, index) and, while
// the screening discards it, from further seeds derived from that one (at
// most `max_draws`). `draws` gets the number of cases generated.
struct Result {
  Case c;
  Outcome outcome;
  int draws = 0;
};
Result run_index(std::uint64_t run_seed, std::uint64_t index, const GenOptions& opt, int max_draws = 50);

// The smallest variant of a failing case (subexpressions replaced by their
// same-shaped descendants or by leaves) that still fails property `p`.
Case shrink(const Case& c, Property p, int max_checks = 2000);

// The failure report: property, expression, declarations, seed, the values
// used, and a `matcalc check` command line.
std::string report(const Case& c, const Outcome& o, std::uint64_t run_seed, std::uint64_t index);

// Values as a JSON object for `matcalc eval --values`.
std::string values_json(const std::map<std::string, Matrix>& values, const std::string& text);

}  // namespace matcalc::prop
