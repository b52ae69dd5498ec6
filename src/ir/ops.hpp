// matcalc's operators and what the one list (ops.def) says of each: its
// names, syntax, arity, class, shape rule and domain. Every lookup by name
// and every classification of an operator goes through these functions;
// nothing compares an operator's position in the list.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace matcalc {

enum class Op : std::uint8_t {
#define MATCALC_OP(E, S, F, A, C, R, D) E,
#include "ir/ops.def"
#undef MATCALC_OP
};

inline constexpr int kOpCount = 0
#define MATCALC_OP(E, S, F, A, C, R, D) +1
#include "ir/ops.def"
#undef MATCALC_OP
    ;

// How the text language writes an operator.
enum class OpForm : std::uint8_t { Literal, Call, Infix, Postfix };

// What kind of map an operator is.
enum class OpClass : std::uint8_t {
  Leaf,            // no arguments
  Arithmetic,      // + * ^ .* ./ .^
  Structural,      // linear maps that rearrange entries: ', diag, vec, reshape, sym
  Reduction,       // to a scalar: tr, det, logdet, sum, norms, logsumexp
  MatrixFunction,  // inv, kron, softmax
  Elementwise,     // exp, log, ..., relu: any shape, entry by entry
};

// The result's shape from the arguments' shapes.
enum class ShapeRule : std::uint8_t {
  Given,         // a leaf: its own shape
  Same,          // any shape, kept
  SquareSame,    // a square argument, same shape
  SquareScalar,  // a square argument, scalar result
  AnyScalar,     // any argument, scalar result
  VectorSame,    // a vector (or scalar) argument, same shape
  VectorScalar,  // a vector (or scalar) argument, scalar result
  Transposed,    // r x c -> c x r
  Special,       // a rule of its own, written in the builder and in inference
};

// What the arguments must satisfy for a finite value.
enum class OpDomain : std::uint8_t {
  Any,
  PositiveArg,      // every entry of the argument > 0
  SpdArg,           // an invertible matrix (det > 0 for logdet): drawn SPD
  PositiveBase,     // base > 0 unless the exponent is an integer
  PositiveDivisor,  // the divisor nonzero: drawn positive
};

// The operator's name in the text language (`tr`, `logdet`, `exp`, ...).
std::string_view op_spelling(Op op);
// The enum's name (`Trace`, `LogDet`), for diagnostics and JSON.
std::string_view op_name(Op op);
// Declared arity (IR arguments), -1 for n-ary.
int op_arity(Op op);
OpForm op_form(Op op);
OpClass op_class(Op op);
ShapeRule op_shape_rule(Op op);
OpDomain op_domain(Op op);

// Elementwise functions of one argument (exp, log, ..., relu).
inline bool is_elementwise_function(Op op) { return op_class(op) == OpClass::Elementwise; }

// The elementwise functions alone, generated from ops.def: code that knows
// something of each of them only (its value at a number, whether f(0) = 0)
// switches over this enum, so that an operator of another class needs no
// case there, and a new elementwise function does not compile until it has
// one.
#define MATCALC_ELEMENTWISE_Elementwise(E) E,
#define MATCALC_ELEMENTWISE_Leaf(E)
#define MATCALC_ELEMENTWISE_Arithmetic(E)
#define MATCALC_ELEMENTWISE_Structural(E)
#define MATCALC_ELEMENTWISE_Reduction(E)
#define MATCALC_ELEMENTWISE_MatrixFunction(E)
enum class ElementwiseFn : std::uint8_t {
#define MATCALC_OP(E, S, F, A, C, R, D) MATCALC_ELEMENTWISE_##C(E)
#include "ir/ops.def"
#undef MATCALC_OP
};
#undef MATCALC_ELEMENTWISE_Elementwise
#undef MATCALC_ELEMENTWISE_Leaf
#undef MATCALC_ELEMENTWISE_Arithmetic
#undef MATCALC_ELEMENTWISE_Structural
#undef MATCALC_ELEMENTWISE_Reduction
#undef MATCALC_ELEMENTWISE_MatrixFunction

// `op` as an elementwise function; nullopt for an operator of another class.
std::optional<ElementwiseFn> elementwise_fn(Op op);

// The operator a call `name(...)` in the text language denotes: the first
// Call-form operator spelled `name` (`diag` gives Diag; the builder turns it
// into DiagPart for a matrix argument). nullopt for anything else.
std::optional<Op> call_op(std::string_view name);
inline bool is_function_name(std::string_view name) { return call_op(name).has_value(); }

// Every operator, in list order, for tests and tables that cover them all.
inline constexpr Op op_at(int i) { return static_cast<Op>(i); }

}  // namespace matcalc
