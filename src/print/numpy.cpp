// NumPy / PyTorch code generation (see numpy.hpp and CLI.md). The module
// written here guarantees:
//   - it is self-contained: it imports only `numpy as np` (or only `torch`)
//     and defines value(**vars), gradient(**vars) and, when the spec has a
//     Hessian, hessian(**vars), plus private helpers whose names start with `_`;
//   - symbols are read by name from the keyword dict (vars["lambda"]) into
//     generated locals `x_<name>`; dimensions into `d_<name>`; temporaries are
//     t0, t1, ...; so no user name is ever a Python identifier of its own and
//     any name, a Python keyword too, works;
//   - values follow the IR's shapes: vectors (n x 1 and 1 x n alike) are
//     1-D arrays, matrices 2-D, scalars 0-d; a product is lowered by the
//     shapes of its factors (column*row is an outer product, row*column a
//     dot product, scalar*X a broadcast, else @);
//   - inv(A)*B is a solve, B*inv(A) a solve with A', never an explicit
//     inverse; logdet goes through slogdet and raises ValueError when the
//     determinant is not positive;
//   - every subexpression the code would use more than once is computed once
//     into a temporary, in dependency order, inside one function _forward that
//     value, gradient and hessian share; value() computes only what the value
//     needs;
//   - a dimension is read off the shape of an input that has it; one that no
//     input has is taken from vars[name] or raises ValueError at call time;
//   - numbers are written so that Python reads back the same double;
//   - the lowering is one switch over every operator of ops.def, no default.
// The NumPy and PyTorch modules differ only in a PyDialect (names of library
// functions, column-major reshapes, helper bodies, input conversion).
#include "print/numpy.hpp"

#include <cmath>
#include <fmt/format.h>
#include <functional>
#include <set>
#include <unordered_map>

#include "ir/error.hpp"

namespace matcalc {

namespace {

// ------------------------------------------------------------ Python code

// Python operator precedence, loosest first (only the levels we emit).
enum PyPrec : int { kPyAdd = 1, kPyMul = 2, kPyUnary = 3, kPyPow = 4, kPyAtom = 5 };

struct Code {
  std::string s;
  int prec = kPyAtom;
};

Code atom(std::string s) { return {std::move(s), kPyAtom}; }
std::string paren_if(const Code& c, bool need) { return need ? "(" + c.s + ")" : c.s; }
std::string as_atom(const Code& c) { return paren_if(c, c.prec < kPyAtom); }

// Left-associative binary operator at level `prec`.
Code binary(const Code& a, std::string_view op, const Code& b, int prec) {
  return {paren_if(a, a.prec < prec) + " " + std::string(op) + " " + paren_if(b, b.prec <= prec), prec};
}
// `**` binds tighter than a unary minus on its left, not on its right: x ** -2.
Code power(const Code& base, const Code& exp) {
  return {paren_if(base, base.prec <= kPyPow) + " ** " + paren_if(exp, exp.prec < kPyUnary), kPyPow};
}
Code negate(const Code& a) { return {"-" + paren_if(a, a.prec < kPyUnary), kPyUnary}; }

Code call(std::string_view fn, std::initializer_list<Code> args) {
  std::string s(fn);
  s += '(';
  bool first = true;
  for (const Code& a : args) {
    if (!first) s += ", ";
    s += a.s;
    first = false;
  }
  return atom(s + ")");
}

// repr-exact: fmt's shortest round-trip form is Python's repr for floats,
// except that Python needs `.0` to make a float of an integral value.
Code py_number(double v) {
  if (std::isnan(v)) return atom("float(\"nan\")");
  if (std::isinf(v)) return v < 0 ? Code{"-float(\"inf\")", kPyUnary} : atom("float(\"inf\")");
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return {s, v < 0 ? kPyUnary : kPyAtom};
}

// A Python string literal; names are identifiers, but the source text may
// hold anything.
std::string py_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// Text inside a """docstring""": no backslash or quote can end or escape it.
std::string py_doc_text(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out;
}

// How a value of a given IR shape is held in Python.
enum class Kind { Scalar, Col, Row, Matrix };
Kind kind_of(const Shape& s) {
  if (s.is_scalar()) return Kind::Scalar;
  if (s.is_col()) return Kind::Col;
  if (s.is_row()) return Kind::Row;
  return Kind::Matrix;
}
bool one_d(Kind k) { return k == Kind::Col || k == Kind::Row; }

// Helpers a module may define; only those used are written.
enum class Helper { Input, Scalar, Vector, Matrix, Dim, LogDet, Sym, LogSumExp, Softmax, Sigmoid, ReshapeF };
using Helpers = std::set<Helper>;

// ------------------------------------------------------------ dialects

class PyDialect {
 public:
  virtual ~PyDialect() = default;
  virtual std::string_view import_line() const = 0;
  virtual std::string_view lib() const = 0;     // np / torch
  virtual std::string_view linalg() const = 0;  // np.linalg / torch.linalg
  virtual std::string_view array_word() const = 0;  // for docstrings
  std::string fn(std::string_view name) const { return std::string(lib()) + "." + std::string(name); }
  std::string la(std::string_view name) const { return std::string(linalg()) + "." + std::string(name); }

  virtual Code eye(const Code& n) const = 0;
  // zeros / ones of a 1-D (one dim) or 2-D (two dims) shape.
  virtual Code filled(std::string_view what, const std::vector<Code>& dims) const = 0;
  // A 2-D array's entries in column-major order, as 1-D.
  virtual Code vec(const Code& x) const = 0;
  // A column-major reshape of a 1-D or 2-D array to r x c.
  virtual Code reshape_f(const Code& x, const Code& r, const Code& c, Helpers& h) const = 0;
  virtual Code diag_part(const Code& x) const = 0;
  virtual Code sigmoid(const Code& x, Helpers& h) const = 0;
  virtual Code softplus(const Code& x) const = 0;
  virtual Code relu(const Code& x) const = 0;
  virtual Code softmax(const Code& x, Helpers& h) const = 0;
  // The argument of a library function: torch's functions need tensors, so
  // a constant scalar (a Python float) is converted there.
  virtual Code tensor_arg(const Code& x, Expr e) const {
    (void)e;
    return x;
  }
  // The public result: a Python float for a scalar, a fresh array otherwise
  // (never a view that aliases an input).
  virtual std::string result(Kind k, const std::string& x) const = 0;
  virtual std::string shape_of_input() const = 0;  // inside _dim: the shape of v[symbol]
  virtual std::string helper_source(Helper h) const = 0;
};

constexpr const char* kInputHelper =
    "def _input(v, name):\n"
    "    if name not in v:\n"
    "        raise ValueError(f\"no value given for the symbol {name!r}\")\n"
    "    return v[name]\n";

class NumPyDialect final : public PyDialect {
 public:
  std::string_view import_line() const override { return "import numpy as np"; }
  std::string_view lib() const override { return "np"; }
  std::string_view linalg() const override { return "np.linalg"; }
  std::string_view array_word() const override { return "numpy array"; }
  Code eye(const Code& n) const override { return call("np.eye", {n}); }
  Code filled(std::string_view what, const std::vector<Code>& dims) const override {
    std::string fn = "np." + std::string(what);
    if (dims.size() == 1) return call(fn, {dims[0]});
    return atom(fn + "((" + dims[0].s + ", " + dims[1].s + "))");
  }
  Code vec(const Code& x) const override { return atom(as_atom(x) + ".reshape(-1, order=\"F\")"); }
  Code reshape_f(const Code& x, const Code& r, const Code& c, Helpers&) const override {
    return atom(as_atom(x) + ".reshape((" + r.s + ", " + c.s + "), order=\"F\")");
  }
  // np.diag of a matrix is a read-only view; the copy makes it an ordinary array.
  Code diag_part(const Code& x) const override { return atom(call("np.diag", {x}).s + ".copy()"); }
  Code sigmoid(const Code& x, Helpers& h) const override {
    h.insert(Helper::Sigmoid);
    return call("_sigmoid", {x});
  }
  Code softplus(const Code& x) const override { return call("np.logaddexp", {atom("0.0"), x}); }
  Code relu(const Code& x) const override { return call("np.maximum", {x, atom("0.0")}); }
  Code softmax(const Code& x, Helpers& h) const override {
    h.insert(Helper::Softmax);
    return call("_softmax", {x});
  }
  std::string result(Kind k, const std::string& x) const override {
    return k == Kind::Scalar ? "float(" + x + ")" : "np.array(" + x + ", dtype=np.float64)";
  }
  std::string shape_of_input() const override { return "np.shape(v[symbol])"; }
  std::string helper_source(Helper h) const override {
    switch (h) {
      case Helper::Input: return kInputHelper;
      case Helper::Scalar:
        return "def _scalar(v, name):\n"
               "    x = np.asarray(_input(v, name), dtype=np.float64)\n"
               "    if x.size != 1:\n"
               "        raise ValueError(f\"{name!r} is a scalar, got an array of shape {x.shape}\")\n"
               "    return x.reshape(-1)[0]\n";
      case Helper::Vector:
        return "def _vector(v, name):\n"
               "    x = np.asarray(_input(v, name), dtype=np.float64)\n"
               "    if x.ndim == 2 and 1 in x.shape:\n"
               "        x = x.reshape(-1)\n"
               "    if x.ndim != 1:\n"
               "        raise ValueError(f\"{name!r} is a vector, got an array of shape {x.shape}\")\n"
               "    return x\n";
      case Helper::Matrix:
        return "def _matrix(v, name):\n"
               "    x = np.asarray(_input(v, name), dtype=np.float64)\n"
               "    if x.ndim != 2:\n"
               "        raise ValueError(f\"{name!r} is a matrix, got an array of shape {x.shape}\")\n"
               "    return x\n";
      case Helper::Dim: return dim_helper();
      case Helper::LogDet:
        return "def _logdet(x):\n"
               "    sign, logabsdet = np.linalg.slogdet(x)\n"
               "    if sign <= 0:\n"
               "        raise ValueError(\"logdet: the determinant is not positive\")\n"
               "    return logabsdet\n";
      case Helper::Sym: return "def _sym(x):\n    return 0.5 * (x + x.T)\n";
      case Helper::LogSumExp:
        // Shifted by the maximum so that large entries do not overflow.
        return "def _logsumexp(x):\n"
               "    m = np.max(x)\n"
               "    if np.isinf(m):\n"
               "        return m\n"
               "    return m + np.log(np.sum(np.exp(x - m)))\n";
      case Helper::Softmax:
        return "def _softmax(x):\n"
               "    e = np.exp(x - np.max(x))\n"
               "    return e / np.sum(e)\n";
      case Helper::Sigmoid:
        // exp of a non-positive number only: no overflow for any input.
        return "def _sigmoid(x):\n"
               "    e = np.exp(-np.abs(x))\n"
               "    return np.where(np.asarray(x) >= 0, 1.0 / (1.0 + e), e / (1.0 + e))\n";
      case Helper::ReshapeF: return "";  // NumPy reshapes column-major itself
    }
    return "";
  }

 private:
  std::string dim_helper() const {
    return "def _dim(v, name, sources):\n"
           "    for symbol, axis, factor in sources:\n"
           "        if symbol in v:\n"
           "            return " + shape_of_input() + "[axis] // factor\n"
           "    if name in v:\n"
           "        return int(v[name])\n"
           "    raise ValueError(f\"the size of dimension {name!r} cannot be read off the shape of any input; \"\n"
           "                     f\"pass it as {name}=...\")\n";
  }
};

class TorchDialect final : public PyDialect {
 public:
  std::string_view import_line() const override { return "import torch"; }
  std::string_view lib() const override { return "torch"; }
  std::string_view linalg() const override { return "torch.linalg"; }
  std::string_view array_word() const override { return "tensor or numpy array"; }
  Code eye(const Code& n) const override { return atom("torch.eye(" + n.s + ", dtype=torch.float64)"); }
  Code filled(std::string_view what, const std::vector<Code>& dims) const override {
    std::string s = "torch." + std::string(what) + "(" + dims[0].s;
    if (dims.size() == 2) s += ", " + dims[1].s;
    return atom(s + ", dtype=torch.float64)");
  }
  // Tensors are row-major only: the column-major order is the transpose's row-major order.
  Code vec(const Code& x) const override { return atom(as_atom(x) + ".T.reshape(-1)"); }
  Code reshape_f(const Code& x, const Code& r, const Code& c, Helpers& h) const override {
    h.insert(Helper::ReshapeF);
    return call("_reshape_f", {x, r, c});
  }
  Code diag_part(const Code& x) const override { return call("torch.diag", {x}); }  // a copy for 2-D input
  Code sigmoid(const Code& x, Helpers&) const override { return call("torch.sigmoid", {x}); }
  Code softplus(const Code& x) const override { return call("torch.nn.functional.softplus", {x}); }
  Code relu(const Code& x) const override { return call("torch.relu", {x}); }
  Code softmax(const Code& x, Helpers&) const override { return atom("torch.softmax(" + x.s + ", dim=0)"); }
  Code tensor_arg(const Code& x, Expr e) const override {
    if (e->constant && e->is_scalar()) return atom("torch.as_tensor(" + x.s + ", dtype=torch.float64)");
    return x;
  }
  std::string result(Kind, const std::string& x) const override {
    return "torch.as_tensor(" + x + ", dtype=torch.float64).clone()";
  }
  std::string shape_of_input() const override { return "tuple(torch.as_tensor(v[symbol]).shape)"; }
  std::string helper_source(Helper h) const override {
    switch (h) {
      case Helper::Input: return kInputHelper;
      case Helper::Scalar:
        return "def _scalar(v, name):\n"
               "    x = torch.as_tensor(_input(v, name), dtype=torch.float64)\n"
               "    if x.numel() != 1:\n"
               "        raise ValueError(f\"{name!r} is a scalar, got a tensor of shape {tuple(x.shape)}\")\n"
               "    return x.reshape(())\n";
      case Helper::Vector:
        return "def _vector(v, name):\n"
               "    x = torch.as_tensor(_input(v, name), dtype=torch.float64)\n"
               "    if x.dim() == 2 and 1 in x.shape:\n"
               "        x = x.reshape(-1)\n"
               "    if x.dim() != 1:\n"
               "        raise ValueError(f\"{name!r} is a vector, got a tensor of shape {tuple(x.shape)}\")\n"
               "    return x\n";
      case Helper::Matrix:
        return "def _matrix(v, name):\n"
               "    x = torch.as_tensor(_input(v, name), dtype=torch.float64)\n"
               "    if x.dim() != 2:\n"
               "        raise ValueError(f\"{name!r} is a matrix, got a tensor of shape {tuple(x.shape)}\")\n"
               "    return x\n";
      case Helper::Dim:
        return "def _dim(v, name, sources):\n"
               "    for symbol, axis, factor in sources:\n"
               "        if symbol in v:\n"
               "            return " + shape_of_input() + "[axis] // factor\n"
               "    if name in v:\n"
               "        return int(v[name])\n"
               "    raise ValueError(f\"the size of dimension {name!r} cannot be read off the shape of any input; \"\n"
               "                     f\"pass it as {name}=...\")\n";
      case Helper::LogDet:
        return "def _logdet(x):\n"
               "    sign, logabsdet = torch.linalg.slogdet(x)\n"
               "    if sign.item() <= 0:\n"
               "        raise ValueError(\"logdet: the determinant is not positive\")\n"
               "    return logabsdet\n";
      case Helper::Sym: return "def _sym(x):\n    return 0.5 * (x + x.T)\n";
      case Helper::LogSumExp: return "def _logsumexp(x):\n    return torch.logsumexp(x, dim=0)\n";
      case Helper::Softmax: return "";  // torch.softmax is already shifted
      case Helper::Sigmoid: return "";  // torch.sigmoid is already stable
      case Helper::ReshapeF:
        return "def _reshape_f(x, rows, cols):\n"
               "    if x.dim() == 2:\n"
               "        x = x.T.reshape(-1)\n"
               "    return x.reshape(cols, rows).T\n";
    }
    return "";
  }
};

// ------------------------------------------------------------ the emitter

// One pass lowers every node to Python. It runs twice with the same
// decisions: first counting how often the code refers to each node (which
// is not how often the IR does: inv(A)*B refers to A and B, not to inv(A)),
// then writing, with nodes referred to more than once held in temporaries.
class PyEmitter {
 public:
  PyEmitter(const ModuleSpec& spec, const PyDialect& d) : spec_(spec), d_(d) {
    if (!spec.value) throw Error(ErrorKind::Usage, "a Python module needs a function value");
    roots_.push_back({spec.value});
    if (!spec.gradients.empty() || spec.hessian) {
      roots_.emplace_back();
      for (const auto& [name, g] : spec.gradients) roots_.back().push_back(g);
    }
    if (spec.hessian) roots_.push_back({spec.hessian});
  }

  std::string module() {
    counting_ = true;
    for (stage_ = 0; stage_ < static_cast<int>(roots_.size()); ++stage_)
      for (Expr r : roots_[stage_]) ref(r);
    counting_ = false;
    std::string forward = forward_function();
    return header() + helpers() + forward + public_functions();
  }

 private:
  const ModuleSpec& spec_;
  const PyDialect& d_;
  std::vector<std::vector<Expr>> roots_;  // by stage: value, gradients, Hessian

  bool counting_ = true;
  int stage_ = 0;
  std::unordered_map<Expr, int> uses_;      // references from the code
  std::unordered_map<Expr, int> first_stage_;
  std::vector<Expr> order_;                 // post-order of references: a topological order
  std::map<std::string, int> dim_stage_;    // dimension symbol -> first stage needing it
  std::unordered_map<Expr, std::string> names_;  // symbols and temporaries
  Helpers helpers_;

  static std::string local_of_symbol(const std::string& name) { return "x_" + name; }
  static std::string local_of_dim(const std::string& name) { return "d_" + name; }

  // ---- references

  // The code for a node used as an operand. Transposes are never held in a
  // temporary: x' of a vector is x itself, X' a view, so they are applied
  // at each use to their operand's code.
  Code ref(Expr e) {
    if (e->op == Op::Transpose) return transposed(ref(e->kid(0)), e->kid(0));
    if (e->op == Op::Const) return py_number(e->value);
    if (counting_) {
      if (uses_[e]++ == 0) {
        first_stage_[e] = stage_;
        if (e->op != Op::Symbol) lower(e);
        order_.push_back(e);
      }
      return atom("_");  // the text is not used while counting
    }
    if (auto it = names_.find(e); it != names_.end()) return atom(it->second);
    return lower(e);
  }

  bool held(Expr e) const {
    auto it = uses_.find(e);
    return e->op == Op::Symbol || (it != uses_.end() && it->second > 1);
  }

  Code transposed(const Code& c, Expr of) {
    if (kind_of(of->shape) != Kind::Matrix) return c;  // 1-D arrays have no orientation
    return atom(as_atom(c) + ".T");
  }

  // The code for A' where A is an operand.
  Code transpose_of(Expr a) {
    if (a->op == Op::Transpose) return ref(a->kid(0));
    if (a->symmetric) return ref(a);
    return transposed(ref(a), a);
  }

  Code dim(const Dim& dm) {
    std::vector<std::string> parts;
    if (dm.coeff() != 1 || dm.factors().empty()) parts.push_back(std::to_string(dm.coeff()));
    for (const auto& f : dm.factors()) {
      if (counting_) dim_stage_.emplace(f, stage_);
      parts.push_back(local_of_dim(f));
    }
    std::string s;
    for (const auto& p : parts) s += (s.empty() ? "" : " * ") + p;
    return {s, parts.size() > 1 ? kPyMul : kPyAtom};
  }

  std::vector<Code> dims_of(const Shape& s) {
    if (kind_of(s) == Kind::Matrix) return {dim(s.rows), dim(s.cols)};
    return {dim(s.is_col() ? s.rows : s.cols)};
  }

  Code helper_call(Helper h, std::string_view fn, const Code& x) {
    helpers_.insert(h);
    return call(fn, {x});
  }

  Code lib_call(std::string_view name, Expr arg) { return call(d_.fn(name), {d_.tensor_arg(ref(arg), arg)}); }

  // ---- lowering: one case per operator

  Code lower(Expr e) {
    switch (e->op) {
      case Op::Const: return py_number(e->value);
      case Op::Symbol: return atom(local_of_symbol(e->name));
      case Op::Identity: return d_.eye(dim(e->shape.rows));
      case Op::Zeros: return d_.filled("zeros", dims_of(e->shape));
      case Op::Ones: return d_.filled("ones", dims_of(e->shape));
      case Op::Add: return lower_sum(e);
      case Op::Mul: return lower_product(e, false);
      case Op::Pow: return power(ref(e->kid(0)), ref(e->kid(1)));
      case Op::MatPow: return call(d_.la("matrix_power"), {ref(e->kid(0)), atom(std::to_string(e->power))});
      case Op::ElemMul: {
        Code acc = ref(e->kid(0));
        for (std::size_t i = 1; i < e->kids.size(); ++i) acc = binary(acc, "*", ref(e->kid(i)), kPyMul);
        return acc;
      }
      case Op::ElemDiv: return binary(ref(e->kid(0)), "/", ref(e->kid(1)), kPyMul);
      case Op::ElemPow: return power(ref(e->kid(0)), ref(e->kid(1)));
      case Op::Transpose: return transposed(ref(e->kid(0)), e->kid(0));
      case Op::Trace: return lib_call("trace", e->kid(0));
      case Op::Det: return call(d_.la("det"), {ref(e->kid(0))});
      case Op::LogDet: return helper_call(Helper::LogDet, "_logdet", ref(e->kid(0)));
      case Op::Inv: return call(d_.la("inv"), {ref(e->kid(0))});
      case Op::Diag: return lib_call("diag", e->kid(0));
      case Op::DiagPart: return d_.diag_part(ref(e->kid(0)));
      case Op::Sum: return lib_call("sum", e->kid(0));
      case Op::Norm2: return call(d_.la("norm"), {d_.tensor_arg(ref(e->kid(0)), e->kid(0))});
      case Op::Norm1: return call(d_.fn("sum"), {lib_call("abs", e->kid(0))});
      case Op::Vec: return lower_reshape(e);
      case Op::Reshape: return lower_reshape(e);
      case Op::Kron: return lower_kron(e);
      case Op::Sym: return helper_call(Helper::Sym, "_sym", ref(e->kid(0)));
      case Op::LogSumExp: return helper_call(Helper::LogSumExp, "_logsumexp", ref(e->kid(0)));
      case Op::Softmax: return d_.softmax(ref(e->kid(0)), helpers_);
      case Op::Exp: return lib_call("exp", e->kid(0));
      case Op::Log: return lib_call("log", e->kid(0));
      case Op::Sqrt: return lib_call("sqrt", e->kid(0));
      case Op::Sin: return lib_call("sin", e->kid(0));
      case Op::Cos: return lib_call("cos", e->kid(0));
      case Op::Tan: return lib_call("tan", e->kid(0));
      case Op::Tanh: return lib_call("tanh", e->kid(0));
      case Op::Abs: return lib_call("abs", e->kid(0));
      case Op::Sign: return lib_call("sign", e->kid(0));
      case Op::Sigmoid: return d_.sigmoid(d_.tensor_arg(ref(e->kid(0)), e->kid(0)), helpers_);
      case Op::Softplus: return d_.softplus(d_.tensor_arg(ref(e->kid(0)), e->kid(0)));
      case Op::Relu: return d_.relu(d_.tensor_arg(ref(e->kid(0)), e->kid(0)));
    }
    throw Error(ErrorKind::Unsupported, "no Python form for operator " + std::string(op_name(e->op)));
  }

  static bool negative_term(Expr t) {
    if (t->op == Op::Const) return t->value < 0;
    return t->op == Op::Mul && t->kid(0)->op == Op::Const && t->kid(0)->value < 0;
  }

  // a + b - 2.0 * c: a negative term inlined here prints as a subtraction.
  Code lower_sum(Expr e) {
    Code acc = ref(e->kid(0));
    for (std::size_t i = 1; i < e->kids.size(); ++i) {
      Expr t = e->kid(i);
      // Only the writing pass may choose the form: whether t is held in a
      // temporary is known once counting is done. Both forms refer to the
      // same operands, so the counts stay right.
      if (!counting_ && !held(t) && negative_term(t)) {
        Code mag = t->op == Op::Const ? py_number(-t->value) : lower_product(t, true);
        acc = binary(acc, "-", mag, kPyAdd);
      } else {
        acc = binary(acc, "+", ref(t), kPyAdd);
      }
    }
    return acc;
  }

  // coef * scalars... * (matrix chain) / denominators...
  Code lower_product(Expr e, bool flip_sign) {
    double coef = 1;
    std::vector<Code> items;
    std::vector<Code> den;
    std::vector<Expr> chain;
    for (Expr k : e->kids) {
      if (k->op == Op::Const) {
        coef *= k->value;
      } else if (!k->is_scalar()) {
        chain.push_back(k);
      } else if (k->op == Op::Pow && k->kid(1)->op == Op::Const && k->kid(1)->value < 0) {
        // x^-p prints as a division: / x ** p
        double p = -k->kid(1)->value;
        Code base = ref(k->kid(0));
        den.push_back(p == 1 ? base : power(base, py_number(p)));
      } else {
        items.push_back(ref(k));
      }
    }
    if (flip_sign) coef = -coef;
    if (!chain.empty()) items.push_back(lower_chain(chain));

    Code acc;
    std::size_t next = 0;
    if (items.empty()) {
      acc = py_number(coef);
    } else if (coef == 1) {
      acc = items[next++];
    } else if (coef == -1) {
      acc = negate(items[next++]);
    } else {
      acc = py_number(coef);
    }
    for (; next < items.size(); ++next) acc = binary(acc, "*", items[next], kPyMul);
    for (const Code& d : den) acc = binary(acc, "/", d, kPyMul);
    return acc;
  }

  // A factor of a matrix chain: a value, or an inverse not yet formed
  // (which the next factor turns into a solve).
  struct Factor {
    Expr inverse = nullptr;  // the Inv node, while pending
    Code code;
    Shape shape;
  };

  Factor factor(Expr f) {
    if (f->op == Op::Inv) return {f, {}, f->shape};
    return {nullptr, ref(f), f->shape};
  }

  Code value_of(const Factor& f) { return f.inverse ? ref(f.inverse) : f.code; }

  // L*R by the shapes: all vectors are 1-D, so the shapes decide between
  // broadcast, outer product and @.
  Code multiply(const Code& l, const Shape& ls, const Code& r, const Shape& rs) {
    Kind kl = kind_of(ls), kr = kind_of(rs);
    if (kl == Kind::Scalar || kr == Kind::Scalar) return binary(l, "*", r, kPyMul);
    if (kl == Kind::Col && kr == Kind::Row) return call(d_.fn("outer"), {l, r});
    return binary(l, "@", r, kPyMul);
  }

  Factor combine(const Factor& l, const Factor& r) {
    Shape s{l.shape.rows, r.shape.cols};
    if (l.inverse && r.inverse) return combine(l, Factor{nullptr, value_of(r), r.shape});
    if (l.inverse) {  // inv(A)*B = solve(A, B); B is a column or a matrix
      return {nullptr, call(d_.la("solve"), {ref(l.inverse->kid(0)), r.code}), s};
    }
    if (r.inverse) {  // B*inv(A) = solve(A', B')'; for a 1-D row b: solve(A', b)
      Code at = transpose_of(r.inverse->kid(0));
      if (kind_of(l.shape) == Kind::Row) return {nullptr, call(d_.la("solve"), {at, l.code}), s};
      return {nullptr, atom(call(d_.la("solve"), {at, atom(as_atom(l.code) + ".T")}).s + ".T"), s};
    }
    return {nullptr, multiply(l.code, l.shape, r.code, r.shape), s};
  }

  // Ends in a column: right to left, so that every step is a matrix-vector
  // product (A @ (B @ x)); otherwise left to right.
  Code lower_chain(const std::vector<Expr>& chain) {
    if (kind_of(chain.back()->shape) == Kind::Col) {
      Factor acc = factor(chain.back());
      for (std::size_t i = chain.size() - 1; i-- > 0;) acc = combine(factor(chain[i]), acc);
      return value_of(acc);
    }
    Factor acc = factor(chain.front());
    for (std::size_t i = 1; i < chain.size(); ++i) acc = combine(acc, factor(chain[i]));
    return value_of(acc);
  }

  // vec(X) and reshape(X, r, c), both column-major.
  Code lower_reshape(Expr e) {
    Expr a = e->kid(0);
    Kind from = kind_of(a->shape), to = kind_of(e->shape);
    Code x = ref(a);
    if (to == Kind::Scalar || (one_d(to) && (one_d(from) || from == Kind::Scalar))) return x;
    if (one_d(to)) return d_.vec(x);
    return d_.reshape_f(x, dim(e->shape.rows), dim(e->shape.cols), helpers_);
  }

  // The library kron prepends axes to the operand with fewer, which is right
  // for two vectors of the same orientation only; everything else goes 2-D.
  Code lower_kron(Expr e) {
    Expr a = e->kid(0), b = e->kid(1);
    Kind ka = kind_of(a->shape), kb = kind_of(b->shape);
    Code ca = ref(a), cb = ref(b);
    if (one_d(ka) && ka == kb) return call(d_.fn("kron"), {ca, cb});
    if (ka == Kind::Col && kb == Kind::Row) return call(d_.fn("outer"), {ca, cb});
    if (ka == Kind::Row && kb == Kind::Col) return call(d_.fn("outer"), {cb, ca});
    auto two_d = [](const Code& c, Kind k) {
      if (k == Kind::Col) return atom(as_atom(c) + "[:, None]");
      if (k == Kind::Row) return atom(as_atom(c) + "[None, :]");
      return c;
    };
    Code k = call(d_.fn("kron"), {two_d(ca, ka), two_d(cb, kb)});
    if (one_d(kind_of(e->shape))) return atom(k.s + ".reshape(-1)");
    return k;
  }

  // ---- the module

  std::string header() {
    std::string doc = "\"\"\"Generated by matcalc";
    if (!spec_.source.empty()) doc += ": " + py_doc_text(spec_.source);
    doc += "\n\nvalue(**symbols) returns the function's value";
    if (!spec_.gradients.empty()) {
      doc += spec_.gradients.size() == 1 ? ", gradient(**symbols) its gradient with respect to " +
                                               py_doc_text(spec_.gradients[0].first)
                                         : ", gradient(**symbols) a dict of its gradients by symbol name";
    }
    if (spec_.hessian) doc += ", hessian(**symbols) its Hessian";
    doc += ".\nSymbols are passed by name (vectors 1-D, matrices 2-D, scalars as numbers)";
    doc += std::string(d_.lib() == "np" ? "" : ", as tensors or numpy arrays") + ":\n";
    for (const auto& [name, sym] : spec_.symbols)
      doc += "    " + py_doc_text(name) + ": " + py_doc_text(sym->shape.str()) + (sym->symmetric && !sym->is_scalar() ? ", symmetric" : "") + "\n";
    doc += "Dimension symbols are read off the shapes of the arrays.\n\"\"\"\n";
    return doc + std::string(d_.import_line()) + "\n\n";
  }

  std::string helpers() {
    std::string s;
    for (Helper h : helpers_) {
      std::string src = d_.helper_source(h);
      if (!src.empty()) s += "\n" + src + "\n";
    }
    return s;
  }

  // The expression that sizes dimension `name`: the shape of a loaded input
  // when one has it, else _dim() looks in the arguments at call time.
  std::string dim_source(const std::string& name) {
    struct Source {
      std::string symbol;
      int axis;
      std::int64_t factor;
    };
    std::vector<Source> loaded, declared;
    for (const auto& [sym_name, sym] : spec_.symbols) {
      Kind k = kind_of(sym->shape);
      std::vector<std::pair<Dim, int>> axes;
      if (k == Kind::Matrix) axes = {{sym->shape.rows, 0}, {sym->shape.cols, 1}};
      if (one_d(k)) axes = {{sym->shape.is_col() ? sym->shape.rows : sym->shape.cols, 0}};
      for (const auto& [dm, axis] : axes) {
        if (dm.factors().size() != 1 || dm.factors()[0] != name) continue;
        bool is_loaded = names_.count(sym) > 0;
        (is_loaded ? loaded : declared).push_back({sym_name, axis, dm.coeff()});
      }
    }
    if (!loaded.empty()) {
      const Source& s = loaded.front();
      std::string x = local_of_symbol(s.symbol) + ".shape[" + std::to_string(s.axis) + "]";
      return s.factor == 1 ? x : x + " // " + std::to_string(s.factor);
    }
    helpers_.insert(Helper::Dim);
    std::string tuple = "(";
    for (const Source& s : declared)
      tuple += "(" + py_string(s.symbol) + ", " + std::to_string(s.axis) + ", " + std::to_string(s.factor) + "), ";
    tuple += ")";
    return "_dim(v, " + py_string(name) + ", " + tuple + ")";
  }

  std::string load(Expr sym) {
    helpers_.insert(Helper::Input);
    std::string arg = "(v, " + py_string(sym->name) + ")";
    switch (kind_of(sym->shape)) {
      case Kind::Scalar: helpers_.insert(Helper::Scalar); return "_scalar" + arg;
      case Kind::Col: case Kind::Row: helpers_.insert(Helper::Vector); return "_vector" + arg;
      case Kind::Matrix: break;
    }
    helpers_.insert(Helper::Matrix);
    return "_matrix" + arg;
  }

  std::string outputs_tuple(int upto) {
    auto stage_out = [&](int s) -> std::string {
      if (s > upto || s >= static_cast<int>(roots_.size())) return "None";
      if (s == 0) return "f";
      if (s == 2) return "h";
      // A tuple of the gradients; (g0,) needs its comma to be a tuple.
      std::string t;
      for (std::size_t i = 0; i < roots_[1].size(); ++i) t += (i ? ", g" : "g") + std::to_string(i);
      return "(" + t + (roots_[1].size() == 1 ? ",)" : ")");
    };
    return stage_out(0) + ", " + stage_out(1) + ", " + stage_out(2);
  }

  std::string forward_function() {
    std::string s =
        "\ndef _forward(v, stage):\n"
        "    \"\"\"The outputs up to `stage` (0: value, 1: gradient, 2: Hessian), sharing temporaries.\"\"\"\n";
    int temp = 0;
    const int last = static_cast<int>(roots_.size()) - 1;
    for (int st = 0; st <= last; ++st) {
      stage_ = st;
      for (Expr e : order_) {
        if (e->op != Op::Symbol || first_stage_[e] != st) continue;
        s += "    " + local_of_symbol(e->name) + " = " + load(e) + "\n";
        names_[e] = local_of_symbol(e->name);
      }
      for (const auto& [name, first] : dim_stage_)
        if (first == st) s += "    " + local_of_dim(name) + " = " + dim_source(name) + "\n";
      for (Expr e : order_) {
        if (e->op == Op::Symbol || first_stage_[e] != st || !held(e)) continue;
        std::string t = "t" + std::to_string(temp++);
        s += "    " + t + " = " + lower(e).s + "\n";
        names_[e] = t;
      }
      for (std::size_t i = 0; i < roots_[st].size(); ++i) {
        std::string out = st == 0 ? "f" : st == 2 ? "h" : "g" + std::to_string(i);
        s += "    " + out + " = " + ref(roots_[st][i]).s + "\n";
      }
      if (st < last)
        s += "    if stage == " + std::to_string(st) + ":\n        return " + outputs_tuple(st) + "\n";
      else
        s += "    return " + outputs_tuple(st) + "\n";
    }
    return s;
  }

  std::string public_functions() {
    std::string s;
    s += "\n\ndef value(**vars):\n";
    s += "    \"\"\"The function's value at the symbols given by name.\"\"\"\n";
    s += "    return " + d_.result(kind_of(spec_.value->shape), "_forward(vars, 0)[0]") + "\n";
    if (!spec_.gradients.empty()) {
      s += "\n\ndef gradient(**vars):\n";
      if (spec_.gradients.size() == 1) {
        s += "    \"\"\"The gradient with respect to " + py_doc_text(spec_.gradients[0].first) +
             ", shaped like it.\"\"\"\n";
        s += "    g = _forward(vars, 1)[1]\n";
        s += "    return " + d_.result(kind_of(spec_.gradients[0].second->shape), "g[0]") + "\n";
      } else {
        s += "    \"\"\"The gradients by symbol name, each shaped like its symbol.\"\"\"\n";
        s += "    g = _forward(vars, 1)[1]\n";
        s += "    return {\n";
        for (std::size_t i = 0; i < spec_.gradients.size(); ++i) {
          const auto& [name, g] = spec_.gradients[i];
          s += "        " + py_string(name) + ": " + d_.result(kind_of(g->shape), "g[" + std::to_string(i) + "]") +
               ",\n";
        }
        s += "    }\n";
      }
    }
    if (spec_.hessian) {
      s += "\n\ndef hessian(**vars):\n";
      s += "    \"\"\"The Hessian (rows and columns in column-major vec order of the variable).\"\"\"\n";
      s += "    return " + d_.result(kind_of(spec_.hessian->shape), "_forward(vars, 2)[2]") + "\n";
    }
    return s;
  }
};

}  // namespace

std::string to_python_module(const ModuleSpec& spec, PyTarget target) {
  NumPyDialect numpy;
  TorchDialect torch;
  const PyDialect& d = target == PyTarget::NumPy ? static_cast<const PyDialect&>(numpy) : torch;
  return PyEmitter(spec, d).module();
}

}  // namespace matcalc
