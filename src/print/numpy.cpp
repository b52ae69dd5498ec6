// NumPy / PyTorch code generation (see numpy.hpp and CLI.md). The module
// written here guarantees:
//   - it is self-contained: it imports only `numpy as np` (or only `torch`)
//     and defines value(**vars), gradient(**vars) and value_and_gradient(**vars)
//     when the spec has gradients, and hessian(**vars), jacobian(**vars) or
//     hvp(**vars) when it has that second-order output (the Hessian and the
//     Jacobian always 2-D, the hvp shaped like its variable, its direction
//     passed by name like every symbol), plus private helpers whose names
//     start with `_`;
//   - symbols are read by name from the keyword dict (vars["lambda"]) into
//     generated locals `x_<name>`; dimensions into `d_<name>`; temporaries are
//     t0, t1, ...; so no user name is ever a Python identifier of its own and
//     any name, a Python keyword too, works;
//   - values follow the IR's shapes: vectors (n x 1 and 1 x n alike) are
//     1-D arrays, matrices 2-D, scalars 0-d; a product is lowered by the
//     shapes of its factors (column*row is an outer product, row*column a
//     dot product, scalar*X a broadcast, else @); a term c*ones(n) of a
//     vector sum (a column or a row, both 1-D) is written c, which NumPy
//     and PyTorch add to every entry (1.0 + np.exp(x_v));
//   - the module performs the checks of matcalc eval and never returns a
//     number that eval would refuse on the same grounds, raising ValueError
//     (naming the function) instead:
//       * every matrix that is solved with, inverted or has its det taken
//         goes through one _Factor per matrix (a local fac0, fac1, ...):
//         inv(A)*B is fac.solve(B), B*inv(A) a solve with A', a standalone
//         inv(A) is formed only where the IR has one (and once); a solve or
//         an inverse needs a reciprocal condition number (1-norm, computed
//         once per matrix) of at least 1e-13, as in src/eval/evaluate.cpp;
//       * a symmetric input is checked entry by entry, |a_ij - a_ji| <=
//         1e-10 * max(|a_ij|, |a_ji|, sqrt(|a_ii a_jj|)) as the values reader does, and used
//         exactly symmetrized;
//       * norm2 is the plain 2-norm while its squares stay in range, else
//         scaled by the largest entry (norm2 of [1e-200, 1e-200] is not 0);
//       * det(A) and det(A)^p factors of a product are applied last, as
//         c * 2^q with |c| near 1, from a det of A with its rows scaled by
//         powers of two: det(X)*inv(X)' at X = 1e-200*I is 1e-200*I although
//         det(X) underflows; a result too large for a double raises, one too
//         small is 0;
//     logdet goes through slogdet and raises ValueError when the determinant
//     is not positive; no Cholesky factorization is relied on, so no input
//     needs to be positive definite beyond what the functions check;
//   - every subexpression the code would use more than once is computed once
//     into a temporary, in dependency order, inside one function _forward that
//     value, gradient and the second-order function share; value() computes
//     only what the value needs;
//   - a dimension is read off the shape of an input that has it; one that no
//     input has is taken from vars[name] or raises ValueError at call time;
//   - numbers are written so that Python reads back the same double;
//   - every operator is lowered: a call from its NumPy or PyTorch column of
//     print/spellings.def, or (where the column says Own) by its case of
//     one switch over PythonOwn, no default.
// The NumPy and PyTorch modules differ only in a PyDialect (names of library
// functions, column-major reshapes, helper bodies, input conversion). The
// target-independent lowering (use counting, temporaries, stages, products
// and chains) is codegen::Emitter, shared with eigen.cpp; PyEmitter supplies
// Python syntax through its hooks.
#include "print/numpy.hpp"

#include <algorithm>
#include <set>

#include "ir/error.hpp"
#include "print/codegen.hpp"
#include "print/spellings.hpp"

namespace matcalc {

namespace {

// ------------------------------------------------------------ Python code

using namespace codegen;

// `**` binds tighter than a unary minus on its left, not on its right: x ** -2.
Code power(const Code& base, const Code& exp) {
  return {paren_if(base, base.prec <= kPow) + " ** " + paren_if(exp, exp.prec < kUnary), kPow};
}
Code negate(const Code& a) { return {"-" + paren_if(a, a.prec < kUnary), kUnary}; }

// repr-exact: fmt's shortest round-trip form is Python's repr for floats,
// except that Python needs `.0` to make a float of an integral value.
Code py_number(double v) { return number_literal(v, "float(\"nan\")", "float(\"inf\")"); }

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

// Helpers a module may define; only those used are written.
enum class Helper {
  Input,
  Scalar,
  Vector,
  Matrix,
  Symmetric,
  Dim,
  Factor,
  LogDet,
  Norm2,
  Sym,
  LogSumExp,
  Softmax,
  Sigmoid,
  ReshapeF,
  Commutation,
  Permutation,
  Finite
};
using Helpers = std::set<Helper>;

// The checks of matcalc eval, in Python (src/eval: values.cpp for the inputs,
// evaluate.cpp for the rest): a symmetric input is symmetric entry by entry
// (|a_ij - a_ji| <= 1e-10 * max(|a_ij|, |a_ji|, sqrt(|a_ii a_jj|))) and is then used exactly
// symmetrized; a solve or an inverse needs a reciprocal condition number
// (1-norm) of at least 1e-13; det(A)^p times an array is formed from sign and
// log|det A| where det(A)^p alone would under- or overflow; the 2-norm is
// scaled by the largest entry where the squares would under- or overflow.
constexpr const char* kNumPySymmetric = R"PY(def _symmetric(v, name):
    x = _matrix(v, name)
    if x.shape[0] != x.shape[1]:
        raise ValueError(f"{name!r} is declared symmetric but its value is {x.shape[0]} x {x.shape[1]}")
    d = np.sqrt(np.abs(np.diag(x)))
    ok = np.abs(x - x.T) <= 1e-10 * np.maximum(np.maximum(np.abs(x), np.abs(x.T)), np.outer(d, d))
    if not np.all(ok):
        i, j = (int(k) for k in np.argwhere(~ok)[0])
        raise ValueError(f"{name!r} is declared symmetric but its value is not: entries ({i + 1},{j + 1}) = "
                         f"{x[i, j]:.10g} and ({j + 1},{i + 1}) = {x[j, i]:.10g} differ")
    return 0.5 * (x + x.T)
)PY";

constexpr const char* kNumPyFactor = R"PY(class _Factor:
    """A square matrix for every solve, inverse and det of it, with the checks of matcalc eval."""

    def __init__(self, a):
        if np.ndim(a) != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"the matrix to factorize is not square (shape {np.shape(a)})")
        self.a = a
        self._rcond = None
        self._inv = None
        self._det = None

    def _require_invertible(self):
        if self._rcond is None:
            try:
                with np.errstate(all="ignore"):
                    c = float(np.linalg.cond(self.a, 1))
            except np.linalg.LinAlgError:
                c = float("inf")
            self._rcond = 1.0 / c if np.isfinite(c) and c > 0.0 else 0.0
        if not self._rcond >= 1e-13:
            raise ValueError(f"inv: matrix is singular (reciprocal condition number {self._rcond:.6g} "
                             "is below 1e-13)")

    def solve(self, b):
        """A^-1 b."""
        self._require_invertible()
        return np.linalg.solve(self.a, b)

    def solve_t(self, b):
        """A^-T b."""
        self._require_invertible()
        return np.linalg.solve(self.a.T, b)

    def inverse(self):
        self._require_invertible()
        if self._inv is None:
            self._inv = np.linalg.inv(self.a)
        return self._inv

    def _det_parts(self):
        """det A = m * 2**e with 0.5 <= |m| < 1 (m = 0 when A is singular): NumPy's det of
        A with its rows scaled by powers of two (exactly), so that det A may under- or
        overflow while the parts do not."""
        if self._det is None:
            if self.a.shape[0] == 0:
                self._det = (0.5, 1)
            else:
                with np.errstate(all="ignore"):
                    _, k = np.frexp(np.max(np.abs(self.a), axis=1))
                    d = float(np.linalg.det(np.ldexp(self.a, -k[:, None])))
                m, e = np.frexp(d)
                self._det = (float(m), int(e) + int(np.sum(k)) if m != 0.0 else 0)
        return self._det

    def det(self):
        m, e = self._det_parts()
        with np.errstate(over="ignore", under="ignore"):
            d = float(np.ldexp(m, max(-100000, min(100000, e))))
        if not np.isfinite(d):
            raise ValueError("det: result is not finite (overflow or NaN)")
        return d

    def times_det(self, x, p):
        """det(A)**p * x, with det(A)**p kept as c * 2**q (|c| near 1) and the power of two
        applied to each entry last, so that it is representable where det(A)**p is not."""
        x = np.asarray(x, dtype=np.float64)
        m, e = self._det_parts()
        if m == 0.0:
            if p < 0:
                raise ValueError("'/': division by zero (the determinant is 0)")
            return x * 0.0
        if m < 0.0 and p != int(p):
            raise ValueError(f"'^': a negative determinant raised to the non-integer power {p}")
        ep = e * p
        whole = float(np.floor(ep))
        c = abs(m) ** p * 2.0 ** (ep - whole)
        if m < 0.0 and int(p) % 2:
            c = -c
        with np.errstate(over="ignore", under="ignore"):
            r = np.ldexp(x * c, int(max(-100000.0, min(100000.0, whole))))
        if np.all(np.isfinite(x)) and not np.all(np.isfinite(r)):
            raise ValueError("det: result is not finite (overflow)")
        return r
)PY";

constexpr const char* kNumPyNorm2 = R"PY(def _norm2(x):
    """The 2-norm (Frobenius for a matrix), as matcalc eval computes it: scaled by the
    largest entry where the plain sum of squares under- or overflows."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        r = float(np.linalg.norm(x))
    if 1e-140 < r < 1e140:
        return r
    m = float(np.max(np.abs(x))) if x.size else 0.0
    if m == 0.0 or not np.isfinite(m):
        return m
    with np.errstate(under="ignore"):
        y = x / m
        return m * float(np.sqrt(np.sum(y * y)))
)PY";

constexpr const char* kTorchSymmetric = R"PY(def _symmetric(v, name):
    x = _matrix(v, name)
    if x.shape[0] != x.shape[1]:
        raise ValueError(f"{name!r} is declared symmetric but its value is {x.shape[0]} x {x.shape[1]}")
    d = torch.sqrt(torch.abs(torch.diagonal(x)))
    ok = torch.abs(x - x.T) <= 1e-10 * torch.maximum(torch.maximum(torch.abs(x), torch.abs(x.T)), torch.outer(d, d))
    if not bool(torch.all(ok)):
        i, j = (int(k) for k in torch.nonzero(~ok)[0])
        raise ValueError(f"{name!r} is declared symmetric but its value is not: entries ({i + 1},{j + 1}) = "
                         f"{float(x[i, j]):.10g} and ({j + 1},{i + 1}) = {float(x[j, i]):.10g} differ")
    return 0.5 * (x + x.T)
)PY";

constexpr const char* kTorchFactor = R"PY(def _ldexp(x, q):
    """x * 2**q, q integral (a number or a tensor), in three exact steps of the same sign,
    so that no power of two needs to be a double of its own."""
    q = torch.clamp(torch.as_tensor(q, dtype=torch.float64), -3000.0, 3000.0)
    q1 = torch.trunc(q / 3)
    q2 = torch.trunc((q - q1) / 2)
    return x * torch.exp2(q1) * torch.exp2(q2) * torch.exp2(q - q1 - q2)


class _Factor:
    """A square matrix for every solve, inverse and det of it, with the checks of matcalc eval."""

    def __init__(self, a):
        if a.dim() != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"the matrix to factorize is not square (shape {tuple(a.shape)})")
        self.a = a
        self._rcond = None
        self._inv = None
        self._det = None

    def _require_invertible(self):
        if self._rcond is None:
            try:
                c = float(torch.linalg.cond(self.a, 1))
            except RuntimeError:
                c = float("inf")
            self._rcond = 1.0 / c if 0.0 < c < float("inf") else 0.0
        if not self._rcond >= 1e-13:
            raise ValueError(f"inv: matrix is singular (reciprocal condition number {self._rcond:.6g} "
                             "is below 1e-13)")

    def solve(self, b):
        """A^-1 b."""
        self._require_invertible()
        return torch.linalg.solve(self.a, b)

    def solve_t(self, b):
        """A^-T b."""
        self._require_invertible()
        return torch.linalg.solve(self.a.T, b)

    def inverse(self):
        self._require_invertible()
        if self._inv is None:
            self._inv = torch.linalg.inv(self.a)
        return self._inv

    def _det_parts(self):
        """det A = m * 2**e with 0.5 <= |m| < 1 (m = 0 when A is singular): the det of A
        with its rows scaled by powers of two (exactly), so that det A may under- or
        overflow while the parts do not."""
        if self._det is None:
            if self.a.shape[0] == 0:
                self._det = (0.5, 1)
            else:
                k = torch.frexp(torch.max(torch.abs(self.a), dim=1).values)[1].to(torch.float64)
                d = torch.linalg.det(_ldexp(self.a, -k[:, None]))
                m, e = torch.frexp(d)
                m = float(m)
                self._det = (m, int(e) + int(torch.sum(k)) if m != 0.0 else 0)
        return self._det

    def det(self):
        m, e = self._det_parts()
        d = _ldexp(torch.tensor(m, dtype=torch.float64), e)
        if not bool(torch.isfinite(d)):
            raise ValueError("det: result is not finite (overflow or NaN)")
        return d

    def times_det(self, x, p):
        """det(A)**p * x, with det(A)**p kept as c * 2**q (|c| near 1) and the power of two
        applied to each entry last, so that it is representable where det(A)**p is not."""
        x = torch.as_tensor(x, dtype=torch.float64)
        m, e = self._det_parts()
        if m == 0.0:
            if p < 0:
                raise ValueError("'/': division by zero (the determinant is 0)")
            return x * 0.0
        if m < 0.0 and p != int(p):
            raise ValueError(f"'^': a negative determinant raised to the non-integer power {p}")
        ep = e * p
        whole = float(int(ep // 1))
        c = abs(m) ** p * 2.0 ** (ep - whole)
        if m < 0.0 and int(p) % 2:
            c = -c
        r = _ldexp(x * c, whole)
        if bool(torch.all(torch.isfinite(x))) and not bool(torch.all(torch.isfinite(r))):
            raise ValueError("det: result is not finite (overflow)")
        return r
)PY";

constexpr const char* kTorchNorm2 = R"PY(def _norm2(x):
    """The 2-norm (Frobenius for a matrix), as matcalc eval computes it: scaled by the
    largest entry where the plain sum of squares under- or overflows."""
    x = torch.as_tensor(x, dtype=torch.float64)
    r = torch.linalg.norm(x.reshape(-1))
    if 1e-140 < float(r) < 1e140:
        return r
    if x.numel() == 0:
        return r
    m = torch.max(torch.abs(x))
    if float(m) == 0.0 or not bool(torch.isfinite(m)):
        return m
    y = x / m
    return m * torch.sqrt(torch.sum(y * y))
)PY";

// ------------------------------------------------------------ dialects

class PyDialect {
 public:
  virtual ~PyDialect() = default;
  virtual std::string_view import_line() const = 0;
  virtual std::string_view lib() const = 0;     // np / torch
  virtual std::string_view linalg() const = 0;  // np.linalg / torch.linalg
  virtual std::string_view array_word() const = 0;  // for docstrings
  // A call-form operator's function, from its column of print/spellings.def.
  virtual std::string_view call_name(Op op) const = 0;
  std::string fn(std::string_view name) const { return std::string(lib()) + "." + std::string(name); }
  std::string la(std::string_view name) const { return std::string(linalg()) + "." + std::string(name); }

  virtual Code eye(const Code& n) const = 0;
  // The commutation matrix K_{m,n}: K @ vec(X) = vec(X.T) for an m x n X.
  Code commutation(const Code& m, const Code& n, Helpers& h) const {
    h.insert(Helper::Commutation);
    return call("_commutation", {m, n});
  }
  // kron of two 2-D operands.
  virtual Code kron_2d(const Code& a, const Code& b) const { return call(fn("kron"), {a, b}); }
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
  std::string_view call_name(Op op) const override { return spellings_of(op).numpy.name; }
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
      case Helper::Symmetric: return kNumPySymmetric;
      case Helper::Dim: return dim_helper();
      case Helper::Factor: return kNumPyFactor;
      case Helper::Norm2: return kNumPyNorm2;
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
      case Helper::Commutation:
        return "def _commutation(m, n):\n"
               "    \"\"\"K with K @ vec(X) = vec(X.T) for an m x n X (column-major vec).\"\"\"\n"
               "    return np.eye(m * n)[np.arange(m * n).reshape((m, n), order=\"F\").ravel()]\n";
      case Helper::Permutation:
        return "def _perm(m, n):\n"
               "    \"\"\"The row order of K_{m,n}: (K @ B)[i] = B[_perm(m, n)[i]].\"\"\"\n"
               "    return np.arange(m * n).reshape((m, n), order=\"F\").ravel()\n";
      case Helper::Finite:
        return "def _finite(x, what):\n"
               "    if not np.all(np.isfinite(x)):\n"
               "        raise ValueError(f\"{what} has no finite value at these inputs: an argument outside the domain "
               "(log or sqrt of a negative number, a zero divisor, a fractional power of a negative number) or an "
               "overflow\")\n"
               "    return x\n";
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
  std::string_view call_name(Op op) const override { return spellings_of(op).torch.name; }
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
  // torch.kron (1.13) views its operands: a transposed matrix raises "view
  // size is not compatible with input tensor's size and stride".
  Code kron_2d(const Code& a, const Code& b) const override {
    return call("torch.kron", {atom(as_atom(a) + ".contiguous()"), atom(as_atom(b) + ".contiguous()")});
  }
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
      case Helper::Symmetric: return kTorchSymmetric;
      case Helper::Factor: return kTorchFactor;
      case Helper::Norm2: return kTorchNorm2;
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
      case Helper::Commutation:
        return "def _commutation(m, n):\n"
               "    \"\"\"K with K @ vec(X) = vec(X.T) for an m x n X (column-major vec).\"\"\"\n"
               "    return torch.eye(m * n, dtype=torch.float64)[torch.arange(m * n).reshape(n, m).T.reshape(-1)]\n";
      case Helper::Permutation:
        return "def _perm(m, n):\n"
               "    \"\"\"The row order of K_{m,n}: (K @ B)[i] = B[_perm(m, n)[i]].\"\"\"\n"
               "    return torch.arange(m * n).reshape(n, m).T.reshape(-1)\n";
      case Helper::Finite:
        return "def _finite(x, what):\n"
               "    if not bool(torch.isfinite(torch.as_tensor(x)).all()):\n"
               "        raise ValueError(f\"{what} has no finite value at these inputs: an argument outside the domain "
               "(log or sqrt of a negative number, a zero divisor, a fractional power of a negative number) or an "
               "overflow\")\n"
               "    return x\n";
    }
    return "";
  }
};

// ------------------------------------------------------------ the emitter

// One pass lowers every node to Python. It runs twice with the same
// decisions: first counting how often the code refers to each node (which
// is not how often the IR does: inv(A)*B refers to A and B, not to inv(A)),
// then writing, with nodes referred to more than once held in temporaries.
class PyEmitter final : public Emitter {
 public:
  PyEmitter(const ModuleSpec& spec, const PyDialect& d) : Emitter(spec, "a Python module"), d_(d) {}

  std::string module() {
    count();
    std::string forward = forward_function();
    return header() + helpers() + forward + public_functions();
  }

 private:
  const PyDialect& d_;
  Helpers helpers_;

  static std::string local_of_symbol(const std::string& name) { return "x_" + name; }
  std::string local_of_dim(const std::string& name) const override { return "d_" + name; }

  // ---- syntax hooks

  Code number(double v) const override { return py_number(v); }
  Code negated(const Code& a) const override { return negate(a); }
  Code power_of(const Code& base, double p) const override { return power(base, py_number(p)); }
  // x' of a vector is x itself (1-D arrays have no orientation), X' a view;
  // every atom that ends in .T is <atom>.T, so X'' is X.
  Code transposed(const Code& c, Kind k) const override {
    if (k != Kind::Matrix) return c;
    if (c.prec == kAtom && c.s.size() > 2 && c.s.ends_with(".T")) return atom(c.s.substr(0, c.s.size() - 2));
    return atom(as_atom(c) + ".T");
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

  // ---- lowering

  Code lower(Expr e) override {
    if (std::optional<PythonOwn> own = python_own(e->op)) return lower_own(*own, e);
    // A call, spelled from print/spellings.def: name(a, b, ...).
    std::string s = std::string(d_.call_name(e->op)) + "(";
    for (std::size_t i = 0; i < e->kids.size(); ++i) s += (i ? ", " : "") + d_.tensor_arg(ref(e->kid(i)), e->kid(i)).s;
    return atom(s + ")");
  }

  // The operators written with code of their own (spellings.def): one case each.
  Code lower_own(PythonOwn op, Expr e) {
    switch (op) {
      case PythonOwn::Const: return py_number(e->value);
      case PythonOwn::Symbol: return atom(local_of_symbol(e->name));
      case PythonOwn::Identity: return d_.eye(dim(e->shape.rows));
      case PythonOwn::Zeros: return d_.filled("zeros", dims_of(e->shape));
      case PythonOwn::Ones: return d_.filled("ones", dims_of(e->shape));
      case PythonOwn::Commutation: return d_.commutation(dim(e->param.rows), dim(e->param.cols), helpers_);
      case PythonOwn::Add: return lower_sum(e);
      case PythonOwn::Mul: return lower_product(e, false);
      case PythonOwn::Pow:
        // det(A)^p alone, scaled like det(A)^p times the rest of a product.
        if (DetPower d = det_power(e); d.matrix) return times_det(factorization(d.matrix), py_number(1), d.power);
        return power(ref(e->kid(0)), ref(e->kid(1)));
      case PythonOwn::MatPow: return call(d_.la("matrix_power"), {ref(e->kid(0)), atom(std::to_string(e->power))});
      case PythonOwn::ElemMul: {
        Code acc = ref(e->kid(0));
        for (std::size_t i = 1; i < e->kids.size(); ++i) acc = binary(acc, "*", ref(e->kid(i)), kMul);
        return acc;
      }
      case PythonOwn::ElemDiv: return binary(ref(e->kid(0)), "/", ref(e->kid(1)), kMul);
      case PythonOwn::ElemPow: return power(ref(e->kid(0)), ref(e->kid(1)));
      case PythonOwn::Transpose: return transposed(ref(e->kid(0)), kind_of(e->kid(0)->shape));
      case PythonOwn::Det: {
        Expr a = e->kid(0);
        if (a->is_scalar()) return ref(a);
        return atom(factorization(determinant_source(a)).s + ".det()");
      }
      case PythonOwn::LogDet: return helper_call(Helper::LogDet, "_logdet", ref(e->kid(0)));
      case PythonOwn::Inv: {
        Expr a = e->kid(0);
        if (a->is_scalar()) return binary(atom("1.0"), "/", ref(a), kMul);
        InverseOf s = inverse_of(e);
        Code inv = atom(factorization(s.matrix).s + ".inverse()");
        return s.transposed ? atom(inv.s + ".T") : inv;
      }
      case PythonOwn::Norm2: return helper_call(Helper::Norm2, "_norm2", ref(e->kid(0)));
      case PythonOwn::DiagPart: return d_.diag_part(ref(e->kid(0)));
      case PythonOwn::Norm1: return call(d_.fn("sum"), {lib_call("abs", e->kid(0))});
      case PythonOwn::Vec: return lower_reshape(e);
      case PythonOwn::Reshape: return lower_reshape(e);
      case PythonOwn::Kron: return lower_kron(e);
      case PythonOwn::Sym: return helper_call(Helper::Sym, "_sym", ref(e->kid(0)));
      case PythonOwn::LogSumExp: return helper_call(Helper::LogSumExp, "_logsumexp", ref(e->kid(0)));
      case PythonOwn::Softmax: return d_.softmax(ref(e->kid(0)), helpers_);
      case PythonOwn::Sigmoid: return d_.sigmoid(d_.tensor_arg(ref(e->kid(0)), e->kid(0)), helpers_);
      case PythonOwn::Softplus: return d_.softplus(d_.tensor_arg(ref(e->kid(0)), e->kid(0)));
      case PythonOwn::Relu: return d_.relu(d_.tensor_arg(ref(e->kid(0)), e->kid(0)));
    }
    throw Error(ErrorKind::Unsupported, "no Python form for operator " + std::string(op_name(e->op)));
  }

  // 1-D arrays broadcast a scalar (a float or a 0-d array) onto every entry.
  bool scalar_broadcasts_onto_vectors() const override { return true; }

  // L*R by the shapes: all vectors are 1-D, so the shapes decide between
  // broadcast, outer product and @.
  Code multiply(const Code& l, const Shape& ls, const Code& r, const Shape& rs) override {
    Kind kl = kind_of(ls), kr = kind_of(rs);
    if (kl == Kind::Scalar || kr == Kind::Scalar) return binary(l, "*", r, kMul);
    if (kl == Kind::Col && kr == Kind::Row) return call(d_.fn("outer"), {l, r});
    return binary(l, "@", r, kMul);
  }

  // inv(A)*B = A \ B with A's factorization (checked); B is a column or a matrix.
  Code solve_left(Expr inv, const Code& b, const Shape&) override {
    InverseOf a = inverse_of(inv);
    return call(factorization(a.matrix).s + (a.transposed ? ".solve_t" : ".solve"), {b});
  }

  // B*inv(A) = (A' \ B')'; for a 1-D row b: A' \ b.
  Code solve_right(const Code& b, const Shape& bs, Expr inv, const Shape&) override {
    InverseOf a = inverse_of(inv);
    std::string fn = factorization(a.matrix).s + (a.transposed ? ".solve" : ".solve_t");
    if (kind_of(bs) == Kind::Row) return call(fn, {b});
    return transposed(call(fn, {transposed(b, Kind::Matrix)}), Kind::Matrix);
  }

  // Broadcasting: d[:, None] * B scales B's rows, A * d A's columns (and a
  // 1-D row's entries); a 1-D column's entries are d * b.
  Code scale_rows(const Code& d, const Code& b, const Shape& bs) override {
    if (kind_of(bs) == Kind::Matrix) return binary(atom(as_atom(d) + "[:, None]"), "*", b, kMul);
    return binary(d, "*", b, kMul);
  }
  Code scale_cols(const Code& a, const Shape&, const Code& d) override { return binary(a, "*", d, kMul); }

  // K_{m,n} @ B is B[_perm(m, n)]; A @ K_{m,n} is A[:, _perm(n, m)] (K' = K_{n,m}
  // is the inverse permutation); a 1-D operand is indexed alone.
  Code permute_rows(const Code& m, const Code& n, const Code& b, const Shape&) override {
    helpers_.insert(Helper::Permutation);
    return atom(as_atom(b) + "[" + call("_perm", {m, n}).s + "]");
  }
  Code permute_cols(const Code& a, const Shape& as, const Code& m, const Code& n) override {
    helpers_.insert(Helper::Permutation);
    std::string index = call("_perm", {n, m}).s;
    return atom(as_atom(a) + (kind_of(as) == Kind::Matrix ? "[:, " + index + "]" : "[" + index + "]"));
  }

  Code times_det(const Code& fac, const Code& x, double power) override {
    return call(fac.s + ".times_det", {x, py_number(power)});
  }

  std::string factorization_line(const std::string& name, Expr m) override {
    helpers_.insert(Helper::Factor);
    return "    " + name + " = _Factor(" + ref(m).s + ")\n";
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
    Code k = d_.kron_2d(two_d(ca, ka), two_d(cb, kb));
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
    if (!spec_.gradients.empty()) doc += ", value_and_gradient(**symbols) both";
    if (spec_.second_order()) doc += ", " + second_doc();
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
    std::vector<DimSource> loaded, declared;
    for (DimSource src : dim_sources(spec_.symbols, name)) {
      src.axis = std::max(src.axis, 0);  // a vector's length is its only axis
      bool is_loaded = names_.count(spec_.symbols.at(src.symbol)) > 0;
      (is_loaded ? loaded : declared).push_back(src);
    }
    if (!loaded.empty()) {
      const DimSource& s = loaded.front();
      std::string x = local_of_symbol(s.symbol) + ".shape[" + std::to_string(s.axis) + "]";
      return s.factor == 1 ? x : x + " // " + std::to_string(s.factor);
    }
    helpers_.insert(Helper::Dim);
    std::string tuple = "(";
    for (const DimSource& s : declared)
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
    if (sym->symmetric) {
      helpers_.insert(Helper::Symmetric);
      return "_symmetric" + arg;
    }
    return "_matrix" + arg;
  }

  // What the second-order function returns, for the docstring.
  std::string second_doc() const {
    const std::string x = spec_.second_wrt.empty() ? "the variable" : py_doc_text(spec_.second_wrt[0]);
    if (spec_.jacobian)
      return "jacobian(**symbols) its Jacobian with respect to " + x + " (numel(value) x numel(" + x + "))";
    if (spec_.hvp)
      return "hvp(**symbols) its Hessian with respect to " + x + " applied to the direction " +
             py_doc_text(spec_.direction) + " (passed by name like the symbols), shaped like " + x;
    if (spec_.second_wrt.size() == 2 && spec_.second_wrt[0] != spec_.second_wrt[1])
      return "hessian(**symbols) the block of its Hessian with rows " + x + " and columns " +
             py_doc_text(spec_.second_wrt[1]) + " (numel(" + x + ") x numel(" + py_doc_text(spec_.second_wrt[1]) + "))";
    return "hessian(**symbols) its Hessian with respect to " + x + " (numel(" + x + ") x numel(" + x + "))";
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

  // ---- the stages of _forward

  std::string stage_prologue(int st) override {
    std::string s;
    for (Expr e : inputs_of_stage(st)) {
      s += "    " + local_of_symbol(e->name) + " = " + load(e) + "\n";
      names_[e] = local_of_symbol(e->name);
    }
    for (const auto& [name, first] : dim_stage_)
      if (first == st) s += "    " + local_of_dim(name) + " = " + dim_source(name) + "\n";
    return s;
  }

  std::string temporary(const std::string& name, Expr, const Code& code) override {
    return "    " + name + " = " + code.s + "\n";
  }

  // Each output is checked finite, as eval checks every value: outside the
  // domain (sqrt of a negative number) NumPy and torch give NaN, not an error.
  std::string stage_epilogue(int st, int last) override {
    std::string s;
    helpers_.insert(Helper::Finite);
    for (std::size_t i = 0; i < roots_[st].size(); ++i) {
      std::string out = st == 0 ? "f" : st == 2 ? "h" : "g" + std::to_string(i);
      std::string what = st == 0                      ? "the value"
                         : st == 2                    ? second_what()
                         : i < spec_.gradients.size() ? "the gradient with respect to " + spec_.gradients[i].first
                                                      : std::string("the gradient");
      s += "    " + out + " = _finite(" + ref(roots_[st][i]).s + ", " + py_string(what) + ")\n";
    }
    if (st < last) return s + "    if stage == " + std::to_string(st) + ":\n        return " + outputs_tuple(st) + "\n";
    return s + "    return " + outputs_tuple(st) + "\n";
  }

  std::string forward_function() {
    std::string third = spec_.second_order() ? ", 2: " + second_name() : "";
    return "\ndef _forward(v, stage):\n"
           "    \"\"\"The outputs up to `stage` (0: value, 1: gradient" +
           third + "), sharing temporaries.\"\"\"\n" + stages();
  }

  // The public form of the gradients in `g`, the tuple _forward returns:
  // the one array, or a dict by symbol name.
  std::string gradient_result(const std::string& indent) {
    if (spec_.gradients.size() == 1) return d_.result(kind_of(spec_.gradients[0].second->shape), "g[0]");
    std::string s = "{\n";
    for (std::size_t i = 0; i < spec_.gradients.size(); ++i) {
      const auto& [name, g] = spec_.gradients[i];
      s += indent + "    " + py_string(name) + ": " + d_.result(kind_of(g->shape), "g[" + std::to_string(i) + "]") +
           ",\n";
    }
    return s + indent + "}";
  }

  // A 2-D result whatever the IR shape: a scalar is 1 x 1, a vector (1-D in
  // the code) n x 1 or 1 x n.
  std::string matrix_result(Kind k, const std::string& x) const {
    std::string r = d_.result(Kind::Matrix, x);
    switch (k) {
      case Kind::Scalar: return r + ".reshape(1, 1)";
      case Kind::Col: return r + ".reshape(-1, 1)";
      case Kind::Row: return r + ".reshape(1, -1)";
      case Kind::Matrix: break;
    }
    return r;
  }

  std::string public_functions() {
    std::string s;
    s += "\n\ndef value(**vars):\n";
    s += "    \"\"\"The function's value at the symbols given by name.\"\"\"\n";
    s += "    return " + d_.result(kind_of(spec_.value->shape), "_forward(vars, 0)[0]") + "\n";
    if (!spec_.gradients.empty()) {
      const bool one = spec_.gradients.size() == 1;
      s += "\n\ndef gradient(**vars):\n";
      if (one)
        s += "    \"\"\"The gradient with respect to " + py_doc_text(spec_.gradients[0].first) +
             ", shaped like it.\"\"\"\n";
      else
        s += "    \"\"\"The gradients by symbol name, each shaped like its symbol.\"\"\"\n";
      s += "    g = _forward(vars, 1)[1]\n";
      s += "    return " + gradient_result("    ") + "\n";
      s += "\n\ndef value_and_gradient(**vars):\n";
      s += std::string("    \"\"\"(value, gradient), sharing the work: the gradient as gradient() returns ") +
           (one ? "it" : "them") + ".\"\"\"\n";
      s += "    f, g, _ = _forward(vars, 1)\n";
      s += "    return " + d_.result(kind_of(spec_.value->shape), "f") + ", " + gradient_result("    ") + "\n";
    }
    if (Expr second = spec_.second_order()) {
      s += "\n\ndef " + second_name() + "(**vars):\n";
      std::string x = spec_.second_wrt.empty() ? "the variable" : py_doc_text(spec_.second_wrt[0]);
      if (spec_.hvp) {
        s += "    \"\"\"The Hessian with respect to " + x + " applied to the direction " +
             py_doc_text(spec_.direction) + ", shaped like " + x + ".\"\"\"\n";
        s += "    return " + d_.result(kind_of(second->shape), "_forward(vars, 2)[2]") + "\n";
      } else {
        s += std::string("    \"\"\"The ") + (spec_.jacobian ? "Jacobian" : "Hessian") +
             ", a 2-D array (rows and columns in column-major vec order).\"\"\"\n";
        s += "    return " + matrix_result(kind_of(second->shape), "_forward(vars, 2)[2]") + "\n";
      }
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
