// matcalc's library API: what the command line, the fuzzers, the benchmarks
// and (later) the Python module and the web server call. Nothing below it is
// public; these headers include none of matcalc's internal ones.
//
//   matcalc::Session s;                                   // one per caller
//   matcalc::Function f = s.load("log(det(W*W' + s^2*I))", "", {.scalar = true, .wrt = {"W"}});
//   matcalc::Expression g = s.gradient(f, "W");
//   g.text();                                             // "2*inv(W*W' + s^2*I)*W"
//
// Guarantees:
//   - every failure is a matcalc::Error (error.hpp): message, kind, and the
//     text (expression or declarations) and column it points into;
//   - nothing global: a Session owns every expression it makes; separate
//     Sessions may be used from separate threads at once; one Session is not
//     thread-safe;
//   - an Expression or Function is a cheap handle, valid while its Session
//     lives.
#pragma once
#include <Eigen/Core>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "matcalc/error.hpp"

namespace matcalc {

struct Node;  // the IR node (src/ir/node.hpp), opaque here
class Session;

// Code targets: a whole module with value() and gradient() (CLI.md).
enum class CodeTarget { NumPy, Torch, Eigen };
// What a module computes besides the value (CLI.md, "Higher order").
enum class Derivative { Gradient, Jacobian, Hessian, Hvp };
// Formats of documents: derivations and the rule book.
enum class DocFormat { Text, Latex, Markdown, Json };

// A typed matrix expression of a Session.
class Expression {
 public:
  Expression() = default;
  explicit Expression(const Node* node) : node_(node) {}

  std::string text() const;  // the text language; parses back to the same expression
  std::string latex() const;
  std::string json() const;   // the expression tree as JSON
  std::string shape() const;  // "n x k", "1 x 1", ...
  bool is_scalar() const;
  // The IR node, for matcalc's own modules and tests.
  const Node* node() const { return node_; }
  explicit operator bool() const { return node_ != nullptr; }
  friend bool operator==(Expression a, Expression b) { return a.node_ == b.node_; }

 private:
  const Node* node_ = nullptr;
};

// A symbol of a program with its declared or inferred type.
struct SymbolInfo {
  std::string name;
  std::string declaration;  // "W: matrix(n,k)", "s: scalar", "S: symmetric(n)"
  Expression symbol;
  bool in_expression = true;  // false for a symbol only declared, not used
};

// An inference warning (LANGUAGE.md): a reading chosen against a name's
// habit, or a likely typo. `column`/`length` point into Function::source.
struct Warning {
  std::string message;
  int column = 0;
  int length = 1;
};

// A parsed and typed program: the expression as written (in normal form, not
// yet simplified) and every symbol with its type.
struct Function {
  std::string source;        // the expression text (with any declarations before it)
  std::string declarations;  // the extra declarations given with it
  Expression expression;
  std::vector<SymbolInfo> symbols;      // in order of first appearance, then declared-only ones
  std::vector<std::string> dimensions;  // dimension symbols in use
  std::vector<Warning> warnings;        // what inference assumed (printed as `warning: ...`)

  // The symbol called `name`; a Name error when the program has none.
  Expression symbol(const std::string& name) const;
  // "W: matrix(n,k); s: scalar", every symbol, for re-reading a result.
  std::string declaration_text() const;
};

struct LoadOptions {
  bool scalar = false;                // the expression must be a scalar (grad, check, explain)
  std::vector<std::string> wrt = {};  // names that must be symbols of the program
  bool strict = false;                // an inference warning is an Inference error instead
  // Kinds known from elsewhere (the values file of eval): "scalar", "vector"
  // or "matrix" by symbol name. Inference takes them as given for undeclared
  // symbols; a name that is not a symbol, or another word, is ignored.
  std::map<std::string, std::string> kinds = {};
  // Why the expression must be a scalar, for messages ("a Hessian needs a
  // scalar function"); empty: a gradient's.
  std::string scalar_reason = {};
};

// Numeric values of symbols (a scalar is 1 x 1, a vector n x 1) and sizes of
// dimension symbols (read off the values where they are not given).
struct Values {
  std::map<std::string, Eigen::MatrixXd> symbols;
  std::map<std::string, std::int64_t> dims;
};

// A values file (CLI.md): JSON mapping each symbol to a number, a list or a
// list of rows, checked against the program. `source` names the text in
// messages ("values file 'v.json'"). A key that names a dimension of the
// program (`"n": 4`) sizes it; `dims` (eval --dims) sizes dimensions too, and
// every size must agree with the values' shapes.
Values read_values_file(const Function& f, const std::string& path,
                        const std::map<std::string, std::int64_t>& dims = {});
Values read_values_json(const Function& f, const std::string& json_text, const std::string& source,
                        const std::map<std::string, std::int64_t>& dims = {});

// The kinds the entries of a values file show, for LoadOptions::kinds: a
// number is "scalar", a flat list of numbers "vector" ([x] too), a list of
// lists "matrix" ([[x]] too); other entries are left out. Empty when the file
// cannot be read or is not a JSON object: reading it for real reports that.
std::map<std::string, std::string> value_kinds_file(const std::string& path);
std::map<std::string, std::string> value_kinds_json(const std::string& json_text);

// The candidate closest to `word` in edit distance when that distance is at
// most `max_distance` (the first of equally close ones), else "": for "did
// you mean" hints.
std::string closest_name(const std::string& word, const std::vector<std::string>& candidates, std::size_t max_distance);

// Syntax only, no types (for live checking as a user types): a Syntax or
// Limit error located in the text, or nothing.
void check_syntax(const std::string& expression);
void check_declarations(const std::string& declarations);
// A value as JSON text in CLI.md's layout (a number, a list, a list of rows).
std::string value_json(const Eigen::MatrixXd& m);

struct CheckSettings {
  std::map<std::string, std::int64_t> dims = {};  // sizes for dimension symbols; others random in [2,5]
  std::uint64_t seed = 1;
  double tolerance = 1e-5;  // on the relative error; a positive finite number
  // Gradients to check instead of matcalc's, by variable (`check --gradient`),
  // each from Session::gradient_formula.
  std::map<std::string, Expression> gradients = {};
  // What is compared with central finite differences (CLI.md, "Numeric"):
  //   Gradient (`check`): each gradient;
  //   Hessian (`check --hessian`): each variable's Hessian block against
  //     central differences of its gradient, and with several variables each
  //     cross block (rows X, columns Y, X before Y in wrt), and the asymmetry
  //     ||H - H'|| / ||H|| of each variable's own block;
  //   Jacobian (`check --jacobian`): the Jacobian of f, of any shape, against
  //     central differences of f;
  //   Hvp (`check --hvp`): the Hessian-vector product, its direction bound to
  //     each direction, against central differences of the gradient.
  // The matrices are compared along every unit direction of a variable with
  // at most 400 free entries, and a few random directions; for a symmetric
  // variable the directions are symmetric (the convention of Session::hessian).
  Derivative what = Derivative::Gradient;
  // Hessian blocks of one variable to check instead of matcalc's (what =
  // Hessian), by variable: numel x numel matrices in f's symbols.
  std::map<std::string, Expression> hessians = {};
  std::string direction = "V";  // the direction symbol of hvp (what = Hvp)
};

// How one comparison came out. The noise floor is the relative error that
// rounding (measured: the spread of f and of the gradient when every input
// moves by a few units in the last place, over the step h) and truncation
// (measured: the difference between the steps h and 2h, taken when the first
// comparison fails) explain; it never grows with |f| alone.
enum class GradientVerdict {
  Agrees,         // relative error within the tolerance
  WithinNoise,    // above the tolerance but within a noise floor of at most 1e-2
  RoundingLevel,  // the gradient and the finite differences are both at rounding level (a zero gradient)
  Mismatch,       // above the tolerance and the noise floor: the gradient is wrong
  Unresolved,     // the noise floor is above 1e-2: central differences cannot tell here
};

struct CheckedGradient {
  std::string variable;
  Expression gradient;  // the gradient that was checked
  bool given = false;   // from CheckSettings::gradients, not matcalc's own
  double relative_error = 0;
  double abs_error = 0;
  double noise_floor = 0;             // relative, as relative_error
  double gradient_norm = 0;           // ||G||
  double fd_norm = 0;                 // ||G_fd||, the central differences
  double step_min = 0, step_max = 0;  // the steps h
  bool two_steps = false;             // also at 2h
  double f_noise = 0;                 // the rounding noise of one evaluation of f (absolute)
  GradientVerdict verdict = GradientVerdict::Mismatch;
  bool ok = false;  // Agrees, WithinNoise or RoundingLevel
  // Second order (CheckSettings::what is not Gradient): `gradient` holds the
  // Hessian block, Jacobian or Hessian-vector product checked, `given` says
  // it came from CheckSettings::hessians, `gradient_norm` is the norm of its
  // side of the comparison, `f_noise` the rounding noise of what the central
  // differences evaluate (the gradient, or f for a Jacobian; a norm).
  std::string variable2;      // a cross Hessian block: the variable of its columns ("" otherwise)
  int unit_directions = 0;    // the unit directions compared (every one of the variable, or none)
  int random_directions = 0;  // the random ones
  double asymmetry = -1;      // a Hessian block of one variable: ||H - H'|| / ||H|| (-1 otherwise)
};

struct CheckOutcome {
  bool ok = true;
  std::map<std::string, std::int64_t> dims;  // the sizes used
  std::vector<CheckedGradient> results;      // in wrt order (Hessian blocks: XX, XY, ..., YY, ...)
  Derivative what = Derivative::Gradient;    // what was checked
  // The report as `matcalc check` prints it.
  std::string text(std::uint64_t seed) const;
};

struct Derivation;  // src/explain/explain.hpp, opaque here

// A derivation step by step (matcalc explain).
class Explanation {
 public:
  explicit Explanation(std::shared_ptr<const Derivation> d) : d_(std::move(d)) {}
  Expression gradient() const;  // as Session::gradient gives it
  std::string format(DocFormat f) const;
  // Each step's differential as text in X and dX, and the declarations
  // (X, dX and every other symbol) under which each of them compiles.
  std::vector<std::string> steps() const;
  std::string declarations() const;
  const Derivation& derivation() const { return *d_; }

 private:
  std::shared_ptr<const Derivation> d_;
};

// Limits of the library (docs/limits.md), for callers that check up front.
std::size_t max_source_bytes();
double check_flops_limit();  // the most work one check may take, in floating-point operations

class Session {
 public:
  Session();
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Parses `source` (declarations, then one expression) and `declarations`,
  // and infers every shape. Errors are located in the text they point into.
  Function load(const std::string& source, const std::string& declarations = "", const LoadOptions& options = {});

  // The simplified expression, as grad and eval use it.
  Expression simplify(Expression e);
  // The simplified gradient of a scalar function w.r.t. one symbol; several
  // at once share the reverse sweep. A Name error for a name that is not a
  // symbol, a Usage error for a name given twice. Remembered: asking again
  // costs nothing.
  Expression gradient(const Function& f, const std::string& wrt);
  std::vector<Expression> gradients(const Function& f, const std::vector<std::string>& wrt);

  // Second order (CLI.md, "Higher order"), simplified and remembered like
  // gradients. Results are matrix expressions whose size does not depend on
  // the dimensions; rows and columns are in column-major vec order. For a
  // symmetric variable they are those of X -> f(sym(X)) (docs/language.md).
  // d vec(F) / d vec(X), numel(F) x numel(X), for an f of any shape:
  Expression jacobian(const Function& f, const std::string& wrt);
  // the Hessian of a scalar f, rows vec(wrt), columns vec(wrt2) (wrt2 empty: wrt):
  Expression hessian(const Function& f, const std::string& wrt, const std::string& wrt2 = "");
  // the Hessian w.r.t. wrt applied to a direction, shaped like wrt, in f's
  // symbols and the direction's (direction_symbol):
  Expression hvp(const Function& f, const std::string& wrt, const std::string& direction = "V");
  // The direction of hvp: a new symbol called `direction`, of wrt's shape
  // (symmetric when wrt is). A Name error when f already has a symbol or a
  // dimension of that name, or the name is not an identifier.
  Expression direction_symbol(const Function& f, const std::string& wrt, const std::string& direction);

  // A self-contained module for `target` computing f and its gradients.
  std::string code(const Function& f, const std::vector<std::string>& wrt, CodeTarget target);
  // A module computing f and `what` (CLI.md): Jacobian: value and jacobian;
  // Hessian: value, gradient and hessian (wrt: one name, or two for a cross
  // block); Hvp: value, gradient and hvp, the direction passed by its name.
  std::string code(const Function& f, const std::vector<std::string>& wrt, CodeTarget target, Derivative what,
                   const std::string& direction = "V");

  // The derivation of the gradient w.r.t. one symbol, step by step.
  Explanation explain(const Function& f, const std::string& wrt);
  // The derivation of the Hessian: the gradient G, its differential dG step
  // by step (the Hessian applied to dX), then vec(dG) = H*vec(dX).
  Explanation explain_hessian(const Function& f, const std::string& wrt);

  // Values of the expressions (e.g. simplify(f.expression), then gradients),
  // in one pass: shared subexpressions and factorizations are computed once.
  std::vector<Eigen::MatrixXd> evaluate(const std::vector<Expression>& roots, Values values);
  // The value of f (simplified) and its gradients w.r.t. `wrt`, in one pass.
  // An error met while evaluating a gradient names the part of f's
  // expression it comes from ("in the gradient w.r.t. A (from logdet(A),
  // whose derivative needs inv(A))"); one in the value names the failing
  // part when f has others ("in logdet(A): ...").
  std::vector<Eigen::MatrixXd> evaluate(const Function& f, const std::vector<std::string>& wrt, Values values);
  // As evaluate(f, wrt, values), then the Hessian of f w.r.t. each of `wrt`
  // (its own block), all in the same pass: the value, the gradients, the
  // Hessians (`eval --hessian`). An error in a Hessian is named like one in
  // a gradient ("in the Hessian w.r.t. X ...").
  std::vector<Eigen::MatrixXd> evaluate_hessians(const Function& f, const std::vector<std::string>& wrt, Values values);

  // Symbolic gradients (or those of settings.gradients) against central
  // finite differences at random inputs drawn inside the domain; or the
  // second-order results that settings.what names. A Limit error, before
  // anything is evaluated, when the estimated work is past
  // check_flops_limit() (smaller dims).
  CheckOutcome check(const Function& f, const std::vector<std::string>& wrt, const CheckSettings& settings);
  // A gradient w.r.t. `wrt` that the caller derived, for CheckSettings::gradients:
  // `formula` is read under f's declarations (declared and inferred) and may
  // use only f's symbols; it must have the shape of `wrt` (a Shape error
  // spanning the formula). Errors are located in `formula` (ErrorSource::Expression).
  Expression gradient_formula(const Function& f, const std::string& wrt, const std::string& formula);

 private:
  struct Impl;  // the IR context and the memo of simplified forms and gradients
  std::unique_ptr<Impl> impl_;
};

// The rule book: every rule, the one called `name` (a Name error when none
// is), or those mentioning `search`.
std::string rules(const std::string& name, const std::string& search, DocFormat format);

}  // namespace matcalc
