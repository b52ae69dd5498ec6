// The core the code printers share (numpy.cpp: NumPy and PyTorch; eigen.cpp:
// C++/Eigen). It owns every decision that does not depend on the target
// language: which nodes the code refers to and how often (one lowering pass
// run twice, first counting, then writing), which of them become
// temporaries, the staged order of the generated forward function (value,
// then gradients, then the second-order output: a Hessian, a Jacobian or a
// Hessian-vector product), the layout of a product (coefficient,
// scalar numerator and denominator, matrix chain), the evaluation order of
// a chain with inverses turned into solves, diagonal matrices into scalings
// and commutation matrices into permutations of rows or columns, shared
// factorizations, and
// which input gives a dimension. A target derives from Emitter and supplies
// only syntax and its own helpers through the virtual hooks.
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ir/node.hpp"
#include "print/module_spec.hpp"

namespace matcalc::codegen {

// Operator precedence of generated code, loosest first (only the levels the
// printers emit; C++ never emits kPow).
enum CodePrec : int { kAdd = 1, kMul = 2, kUnary = 3, kPow = 4, kAtom = 5 };

struct Code {
  std::string s;
  int prec = kAtom;
};

Code atom(std::string s);
std::string paren_if(const Code& c, bool need);
std::string as_atom(const Code& c);
// Left-associative binary operator at level `prec`.
Code binary(const Code& a, std::string_view op, const Code& b, int prec);
Code call(std::string_view fn, std::initializer_list<Code> args);
// A double literal that reads back as the same double: fmt's shortest
// round-trip form, with `.0` added to an integral value so that both Python
// and C++ read a floating-point number; NaN and infinity are the target's
// spellings `nan` and `inf` (minus infinity is -inf).
Code number_literal(double v, std::string_view nan, std::string_view inf);

// How a value of a given IR shape is held: scalar, 1-D (column or row), 2-D.
enum class Kind { Scalar, Col, Row, Matrix };
Kind kind_of(const Shape& s);
bool one_d(Kind k);

// An input axis whose size gives a dimension directly (n or 2*n, not n*k).
struct DimSource {
  std::string symbol;
  int axis;  // 0: rows, 1: columns, -1: the length of a vector
  std::int64_t factor;
};
std::vector<DimSource> dim_sources(const std::map<std::string, Expr>& symbols, const std::string& name);

// inv(A) and inv(A') are solved with A's factorization, transposed for A'.
struct InverseOf {
  Expr matrix;
  bool transposed;
};
InverseOf inverse_of(Expr inv_node);
// The matrix whose factorization det/logdet of `a` uses: det(A') = det(A).
Expr determinant_source(Expr a);

// A scalar factor det(A)^p of a product (p a constant; det(A) itself is p =
// 1): the matrix A and the power, or nothing.
struct DetPower {
  Expr matrix = nullptr;
  double power = 0;
};
DetPower det_power(Expr factor);

class Emitter {
 public:
  virtual ~Emitter() = default;

 protected:
  // `what` names the target in the error for a spec without a value.
  Emitter(const ModuleSpec& spec, std::string_view what);

  // The counting pass: after it, uses_, first_stage_, order_, factor_stage_
  // and dim_stage_ are known and lowering writes code.
  void count();
  // The staged body of the forward function, through the stage hooks.
  std::string stages();

  // ---- hooks: syntax
  virtual Code lower(Expr e) = 0;  // one case per operator
  virtual Code number(double v) const = 0;
  virtual Code negated(const Code& a) const = 0;
  virtual Code power_of(const Code& base, double p) const = 0;  // base^p, p a positive constant
  virtual Code transposed(const Code& c, Kind k) const = 0;      // c' for a value of kind k
  virtual std::string local_of_dim(const std::string& name) const = 0;
  // Whether `s + v` (s a scalar, v a vector, a column or a row) adds s to
  // every entry, so that a sum's broadcast term c*ones(n) or c*ones(1,n) may
  // be written as c (NumPy, PyTorch: yes, vectors are 1-D; Eigen: no, a
  // double does not broadcast onto a VectorXd).
  virtual bool scalar_broadcasts_onto_vectors() const { return false; }
  // L*R by the shapes (broadcast, outer, dot, matrix product).
  virtual Code multiply(const Code& l, const Shape& ls, const Code& r, const Shape& rs) = 0;
  // inv(A)*B and B*inv(A), `inv` the Inv node, `s` the product's shape.
  virtual Code solve_left(Expr inv, const Code& b, const Shape& s) = 0;
  virtual Code solve_right(const Code& b, const Shape& bs, Expr inv, const Shape& s) = 0;
  // diag(d)*B and A*diag(d), `d` the code of the vector: the rows of B, the
  // columns of A scaled, never the n x n matrix formed (X'*diag(q)*X is
  // O(m d^2), not O(m^2 d)).
  virtual Code scale_rows(const Code& d, const Code& b, const Shape& bs) = 0;
  virtual Code scale_cols(const Code& a, const Shape& as, const Code& d) = 0;
  // K*B and A*K for K = commutation(m,n) (`m`, `n` the code of its
  // parameters): B's rows, A's columns permuted, never the mn x mn matrix
  // formed or multiplied.
  virtual Code permute_rows(const Code& m, const Code& n, const Code& b, const Shape& bs) = 0;
  virtual Code permute_cols(const Code& a, const Shape& as, const Code& m, const Code& n) = 0;
  // det(A)^p * x, `fac` the code of A's factorization and x the rest of a
  // product (a scalar or an array): computed in a scaled form (sign and
  // log|det A|, combined with the magnitude of x), so that a representable
  // result is computed where det(A)^p alone under- or overflows.
  virtual Code times_det(const Code& fac, const Code& x, double power) = 0;

  // ---- hooks: the stages of the forward function
  virtual std::string stage_prologue(int stage) = 0;  // inputs and dimensions it needs first
  virtual std::string temporary(const std::string& name, Expr e, const Code& code) = 0;
  virtual std::string factorization_line(const std::string& name, Expr m) {
    (void)name;
    (void)m;
    return "";
  }
  virtual std::string stage_epilogue(int stage, int last) = 0;  // outputs, and the return

  // The second-order output of the spec (stage 2): the name of the function
  // returning it ("hessian", "jacobian", "hvp"), the words for it in messages
  // ("the Hessian", ...), and whether it is returned as a 2-D array whatever
  // its IR shape (the Hessian and the Jacobian; an hvp is shaped like X).
  std::string second_name() const;
  std::string second_what() const;
  bool second_is_matrix() const;

  // ---- shared lowering
  // The code for a node used as an operand. Transposes are never held in a
  // temporary: they are applied at each use to their operand's code.
  Code ref(Expr e);
  bool held(Expr e) const;
  // The code for A' where A is an operand.
  Code transpose_of(Expr a);
  // The factorization of the matrix `m`, one per matrix.
  Code factorization(Expr m);
  Code dim(const Dim& dm);
  // The symbols the code first reads in `stage`, in order.
  std::vector<Expr> inputs_of_stage(int stage) const;
  // a + b - 2 * c: a negative term inlined here prints as a subtraction.
  Code lower_sum(Expr e);
  // coef * scalars... * (matrix chain) / denominators...; `scalar_only`
  // leaves the chain out. Factors det(A)^p are applied last, by times_det.
  Code lower_product(Expr e, bool flip_sign, bool scalar_only = false);
  // A broadcast term ones(n) or c*ones(n) as the scalar 1 or c.
  Code lower_product_scalar_part(Expr term, bool flip_sign);
  Code lower_chain(const std::vector<Expr>& chain);

  const ModuleSpec& spec_;
  std::vector<std::vector<Expr>> roots_;  // by stage: value, gradients, second order
  bool counting_ = true;
  int stage_ = 0;
  // What the code computes, in a topological order: nodes, and the
  // factorizations of matrices (their own entries, after the matrix).
  struct Item {
    Expr e;
    bool factorization;
  };
  std::vector<Item> order_;
  std::unordered_map<Expr, int> uses_;  // references from the code
  std::unordered_map<Expr, int> first_stage_;
  std::unordered_map<Expr, int> factor_stage_;  // matrix -> first stage needing its factorization
  std::unordered_map<Expr, std::string> factor_names_;
  std::map<std::string, int> dim_stage_;  // dimension symbol -> first stage the code needs it
  std::unordered_map<Expr, std::string> names_;  // symbols and temporaries

 private:
  // A factor of a matrix chain: a value, or an inverse, a diagonal or a
  // commutation matrix not yet formed (which the next factor turns into a
  // solve, a scaling or a permutation).
  struct Factor {
    Expr pending = nullptr;  // the Inv, Diag (of a vector) or Commutation node, while pending
    Code code;
    Shape shape;
  };
  Factor factor(Expr f);
  Code value_of(const Factor& f);
  Factor combine(const Factor& l, const Factor& r);
};

}  // namespace matcalc::codegen
