#include "parse/typecheck.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "ir/builders.hpp"
#include "ir/error.hpp"
#include "parse/suggest.hpp"

namespace matcalc {

namespace {

// Why the root must be a scalar, unless the caller says otherwise (TypecheckOptions::scalar_reason).
constexpr const char* kScalarReason = "a gradient needs a scalar function";

enum class Kind { Scalar, Vector, Matrix };

// Union-find over dimensions; a class is either known (a Dim) or free, and a
// free class may be known not to be 1 (the rows of a vector).
class Dims {
 public:
  int fresh(bool not_one = false) {
    parent_.push_back(static_cast<int>(parent_.size()));
    known_.push_back(std::nullopt);
    not_one_.push_back(not_one);
    square_of_.push_back(-1);
    return parent_.back();
  }
  // A placeholder for x*x (kron(X, X) of an X of unknown size): two such
  // placeholders that unify make their roots unify, since n*n = k*k only
  // where n = k. (A product of two different factors tells nothing of them.)
  void set_square_of(int placeholder, int x) { square_of_[find(placeholder)] = x; }
  int known(const Dim& d) {
    int id = fresh();
    known_[id] = d;
    return id;
  }
  int find(int a) {
    while (parent_[a] != a) a = parent_[a] = parent_[parent_[a]];
    return a;
  }
  std::optional<Dim> value(int a) { return known_[find(a)]; }
  bool is_one(int a) {
    auto v = value(a);
    return v && v->is_one();
  }
  // Known to be more than 1: a known size other than 1 (a dimension symbol
  // counts as more than 1), or a free class marked so.
  bool is_many(int a) {
    auto v = value(a);
    return v ? !v->is_one() : static_cast<bool>(not_one_[find(a)]);
  }
  // False when the two classes hold different known dimensions.
  bool unify(int a, int b) {
    a = find(a), b = find(b);
    if (a == b) return true;
    auto& ka = known_[a];
    auto& kb = known_[b];
    if (ka && kb && !(*ka == *kb)) return false;
    bool not_one = not_one_[a] || not_one_[b];
    std::optional<Dim> k = ka ? ka : kb;
    if (not_one && k && k->is_one()) return false;
    parent_[b] = a;
    known_[a] = k;
    not_one_[a] = not_one;
    const int sa = square_of_[a], sb = square_of_[b];
    if (sa < 0) square_of_[a] = sb;
    if (sa >= 0 && sb >= 0) return unify(sa, sb);
    return true;
  }
  std::string str(int a) {
    auto v = value(a);
    return v ? v->str() : "?";
  }

 private:
  std::vector<int> parent_;
  std::vector<std::optional<Dim>> known_;
  std::vector<bool> not_one_;
  std::vector<int> square_of_;  // the class whose square this placeholder is, or -1
};

struct TShape {
  int r, c;
};

struct Undeclared {
  std::string name;
  int first_pos;
};

[[noreturn]] void fail(ErrorKind k, const std::string& msg, const Ast& at) {
  throw Error(k, msg, at.pos + 1, at.len);
}

bool is_upper(const std::string& name) { return std::isupper(static_cast<unsigned char>(name[0])); }

// How well a kind fits a name (LANGUAGE.md): an upper-case name is a matrix,
// else a vector, else a scalar; a lower-case name a vector or a scalar.
constexpr int kBestFit = 2;
int preference(const std::string& name, Kind k) {
  if (is_upper(name)) return k == Kind::Matrix ? 2 : (k == Kind::Vector ? 1 : 0);
  return k == Kind::Vector ? 2 : (k == Kind::Scalar ? 1 : 0);
}

// The kinds of a name, most preferred first.
std::array<Kind, 3> preferred_kinds(const std::string& name) {
  if (is_upper(name)) return {Kind::Matrix, Kind::Vector, Kind::Scalar};
  return {Kind::Vector, Kind::Scalar, Kind::Matrix};
}

// What makes a reading unlikely, besides names, in points of preference:
// a scalar of the user's symbols added to a vector (`w'*x + b` reads b as a
// scalar, not as a vector that w'*x is added to entry by entry; constants
// broadcast freely, `1 + v`), and the transpose of a scalar symbol (in
// `w'*x`, w is a vector).
constexpr int kBroadcastCost = 2;
constexpr int kScalarTransposeCost = 1;
// sum, norm1, norm2 or tr of a scalar made of the user's scalars only: a
// reading that needs one is unlikely (sum(v - logsumexp(v)) reads v as a
// vector, not as a scalar that makes the whole expression 0; sum(x'*y) is a
// scalar whatever the reading, and costs nothing).
constexpr int kScalarReductionCost = 3;

const char* kind_word(Kind k) {
  return k == Kind::Scalar ? "a scalar" : (k == Kind::Vector ? "a vector" : "a matrix");
}

// The undeclared symbols, in order of first use, and which AST nodes mention one.
struct Unknowns {
  std::vector<Undeclared> list;
  std::map<std::string, std::size_t> index;
  std::unordered_set<const Ast*> mentioning;                // nodes whose subtree names an undeclared symbol
  std::unordered_map<const Ast*, std::size_t> at_node;      // each use of an undeclared symbol: its index
  std::unordered_map<const Ast*, std::optional<Op>> calls;  // each call: its operator, if any
};

// A reading gives each undeclared symbol a kind; the search fixes them one at
// a time, so a partial reading leaves some open.
using Reading = std::vector<std::optional<Kind>>;

// Thrown by a pass that meets an undeclared symbol whose kind is still open.
struct NeedKind {
  std::size_t symbol;
};

// Calls `visit` on every node under `root` (itself included), without
// recursion (the tree may be 2000 deep), until it returns false; false then.
template <class F>
bool each_node(const Ast& root, F&& visit) {
  std::vector<const Ast*> stack{&root};
  while (!stack.empty()) {
    const Ast* a = stack.back();
    stack.pop_back();
    if (!visit(*a)) return false;
    for (const auto& k : a->kids) stack.push_back(k.get());
  }
  return true;
}

// The text of the source from AST node `first` to `last`, with its closing
// parentheses, shortened past 60 characters (it is for messages); `fallback`
// when there is no source. Kids stand in source order, so the span's ends lie
// on the leftmost and the rightmost paths: no walk over the whole subtree
// (the search builds many messages it throws away).
std::string snippet(std::string_view source, const Ast& first, const Ast& last, const char* fallback) {
  if (source.empty()) return fallback;
  int lo = first.pos, hi = first.pos + first.len;
  for (const Ast* a = &first; a; a = a->kids.empty() ? nullptr : a->kids.front().get()) lo = std::min(lo, a->pos);
  for (const Ast* a = &last; a; a = a->kids.empty() ? nullptr : a->kids.back().get())
    hi = std::max(hi, a->pos + a->len);
  const auto size = static_cast<int>(source.size());
  hi = std::min(hi, size);
  int open = 0;
  for (int i = lo; i < hi; ++i) open += source[i] == '(' ? 1 : source[i] == ')' ? -1 : 0;
  while (open > 0 && hi < size) {
    if (source[hi] == ')')
      --open;
    else if (source[hi] == '(')
      ++open;
    ++hi;
  }
  constexpr int kLongest = 60;
  if (hi - lo > kLongest) return std::string(source.substr(lo, kLongest - 3)) + "...";
  return std::string(source.substr(lo, hi - lo));
}

// One inference pass under a (partial) reading.
class Pass {
 public:
  Pass(const std::map<std::string, const Declaration*>& decls, const Unknowns& unknowns, const Reading& reading,
       const std::set<std::string>& dim_names, std::string_view source, bool record = false)
      : decls_(decls), unknowns_(unknowns), reading_(reading), dim_names_(dim_names), source_(source), record_(record) {
    one_ = dim_of(Dim::literal(1));
    unknown_shapes_.resize(unknowns.list.size());
  }

  Dims dims;
  TShape root{0, 0};
  std::unordered_map<const Ast*, TShape> shapes;    // a recorded pass's: every node's shape
  std::unordered_map<const Ast*, std::pair<int, int>> commutation_dims;  // and commutation(m, n)'s m and n
  std::unordered_map<std::string, TShape> symbols;  // declared symbols met; undeclared ones when recorded
  int cost = 0;                                     // the points of the costs above (kBroadcastCost, ...)
  std::size_t visited = 0;                          // AST nodes visited (the search's work)

  TShape run(const Ast& a, bool must_be_scalar = false) {
    ++visited;
    TShape s = visit(a, must_be_scalar);
    if (must_be_scalar) {
      if (dims.is_many(s.r) || dims.is_many(s.c))  // else both unify with 1
        fail(ErrorKind::Shape,
             "'" + snippet(source_, a, a, "this") + "' is " + described(s) +
                 ", not a scalar, in an expression that must be a scalar (" + std::string(kScalarReason) + ")",
             a);
      dims.unify(s.r, one_);
      dims.unify(s.c, one_);
    }
    if (record_) shapes[&a] = s;
    return s;
  }
  // Visit only the terms marked in `active` of the sum `root`, each a scalar:
  // the search of one group of terms that share no symbol with the others.
  void only_terms(const Ast& root, const std::vector<bool>& active) {
    terms_of_ = &root;
    terms_ = &active;
  }

  // The root; a scalar when `want_scalar` (grad, check, explain).
  TShape run_root(const Ast& a, bool want_scalar) {
    ++visited;
    TShape s = visit(a, want_scalar);
    if (record_) shapes[&a] = s;
    if (want_scalar) {
      if (dims.is_many(s.r) || dims.is_many(s.c))
        throw Error(ErrorKind::Shape, "the expression is " + kind_of(s) + ", not a scalar: " + kScalarReason);
      dims.unify(s.r, one_);
      dims.unify(s.c, one_);
    }
    return s;
  }

  // "scalar", "vector(n)", "n x k", or the kind alone while a size is free.
  std::string str(TShape s) {
    if (is_scalar(s)) return "scalar";
    if (!dims.value(s.r) || !dims.value(s.c)) return kind_of(s).substr(2);  // "vector", "matrix"
    if (dims.is_one(s.c)) return "vector(" + dims.str(s.r) + ")";
    return dims.str(s.r) + " x " + dims.str(s.c);
  }
  bool is_scalar(TShape s) { return dims.is_one(s.r) && dims.is_one(s.c); }
  // "vector(n)" when the dimensions are known, else "a vector".
  std::string kind_of(TShape s) {
    if (is_scalar(s)) return "a scalar";
    if (dims.value(s.r) && dims.value(s.c)) return str(s);
    if (dims.is_one(s.c)) return "a vector";
    if (dims.is_one(s.r)) return "a row vector";
    return "a matrix";
  }
  // "a matrix (n x k)", "a vector(n)", "a matrix": with an article, for prose.
  std::string described(TShape s) {
    std::string k = kind_of(s);
    if (k.rfind("a ", 0) == 0) return k;
    if (k.rfind("vector(", 0) == 0) return "a " + k;
    return "a matrix (" + k + ")";
  }

  int dim_of(const Dim& d) {
    auto it = dim_ids_.find(d);
    if (it != dim_ids_.end()) return it->second;
    int id = dims.known(d);
    dim_ids_[d] = id;
    return id;
  }

 private:
  const std::map<std::string, const Declaration*>& decls_;
  const Unknowns& unknowns_;
  const Reading& reading_;
  const std::set<std::string>& dim_names_;
  std::string_view source_;
  bool record_;  // keep `shapes` and every symbol's shape (the search's passes need neither)
  std::map<Dim, int> dim_ids_;

  int one_ = -1;                                       // the class of 1, made first
  std::vector<std::optional<TShape>> unknown_shapes_;  // by undeclared symbol, as met
  const Ast* terms_of_ = nullptr;                      // only_terms()
  const std::vector<bool>* terms_ = nullptr;

  TShape some_terms(const Ast& a) {
    for (std::size_t i = 0; i < a.kids.size(); ++i)
      if ((*terms_)[i]) run(*a.kids[i], true);
    return scalar();
  }
  int one() const { return one_; }
  TShape scalar() { return {one(), one()}; }

  void unify_shapes(TShape a, TShape b, const std::string& op, const Ast& at) {
    if (!dims.unify(a.r, b.r) || !dims.unify(a.c, b.c))  // a failed unify changes nothing
      fail(ErrorKind::Shape, "shape mismatch in '" + op + "': " + str(a) + " and " + str(b), at);
  }

  void need_square(TShape s, const std::string& fn, const Ast& at) {
    if (!dims.unify(s.r, s.c)) fail(ErrorKind::Shape, fn + " needs a square matrix, got " + str(s), at);
  }

  void need_scalar(TShape s, const std::string& what, const Ast& at) {
    if (!is_scalar(s)) fail(ErrorKind::Shape, what + " must be a scalar, got " + str(s), at);
  }

  TShape visit(const Ast& a, bool must) {
    switch (a.kind) {
      case Ast::Kind::Number:
        return scalar();
      case Ast::Kind::Name:
        return name(a);
      case Ast::Kind::Neg: return run(*a.kids[0], must);
      case Ast::Kind::Transpose: {
        TShape s = run(*a.kids[0], must);
        if (a.kids[0]->kind == Ast::Kind::Name && is_scalar(s) && unknowns_.mentioning.count(a.kids[0].get()))
          cost += kScalarTransposeCost;
        return {s.c, s.r};
      }
      case Ast::Kind::Power: return power(a, must);
      case Ast::Kind::Chain: return chain(a, must);
      case Ast::Kind::Call: return call(a, must);
    }
    return scalar();
  }

  TShape name(const Ast& a) {
    const std::string& n = a.text;
    if (auto u = unknowns_.at_node.find(&a); u != unknowns_.at_node.end()) return unknown(u->second, n);
    if (auto it = symbols.find(n); it != symbols.end()) return it->second;
    if (auto d = decls_.find(n); d != decls_.end()) {
      TShape s{dim_of(d->second->rows), dim_of(d->second->cols)};
      symbols[n] = s;
      return s;
    }
    if (n == "I") {  // never 1 x 1: `s + I` is a scalar plus a matrix, not s + 1
      int d = dims.fresh(true);
      return {d, d};
    }
    if (dim_names_.count(n))
      fail(ErrorKind::Name, "'" + n + "' is a dimension, not a value", a);
    if (is_function_name(n)) fail(ErrorKind::Syntax, "function '" + n + "' needs arguments: " + n + "(...)", a);
    return unknown(unknowns_.index.at(n), n);
  }

  // Undeclared symbol i: its shape under the reading, or NeedKind.
  TShape unknown(std::size_t i, const std::string& n) {
    if (unknown_shapes_[i]) return *unknown_shapes_[i];
    if (!reading_[i]) throw NeedKind{i};
    const Kind k = *reading_[i];
    TShape s = k == Kind::Scalar   ? scalar()
               : k == Kind::Vector ? TShape{dims.fresh(true), one()}
                                   : TShape{dims.fresh(true), dims.fresh(true)};
    unknown_shapes_[i] = s;
    if (record_) symbols[n] = s;
    return s;
  }

  // Whether every symbol in `a` (met already) is a scalar and no I or ones
  // is in it: a scalar made of scalars, not by structure (x'*y).
  bool scalars_only(const Ast& a) {
    return each_node(a, [&](const Ast& k) {
      if (k.kind == Ast::Kind::Call)
        if (std::optional<Op> op = call_op(k.text); op && op_shape_rule(*op) == ShapeRule::Given)
          return false;  // eye, ones, zeros
      if (k.kind != Ast::Kind::Name) return true;
      std::optional<TShape> sh;
      if (auto u = unknowns_.at_node.find(&k); u != unknowns_.at_node.end())
        sh = unknown_shapes_[u->second];
      else if (auto d = symbols.find(k.text); d != symbols.end())
        sh = d->second;
      return sh && is_scalar(*sh);  // not I, nor an array
    });
  }

  static bool integer_exponent(const Ast& e) {
    const Ast* p = &e;
    if (p->kind == Ast::Kind::Neg) p = p->kids[0].get();
    return p->kind == Ast::Kind::Number && p->integer_literal;
  }

  // A power has its base's shape: a scalar power is a scalar.
  TShape power(const Ast& a, bool must) {
    TShape b = run(*a.kids[0], must);
    const Ast& exponent = *a.kids[1];
    TShape e = run(exponent);
    // X^T: a lone letter after '^' is most likely a transpose.
    const std::string transpose =
        a.text == "^" && exponent.kind == Ast::Kind::Name && exponent.text.size() == 1
            ? "; for the transpose write " + snippet(source_, *a.kids[0], *a.kids[0], "X") + "'"
            : "";
    if (!is_scalar(e))
      fail(ErrorKind::Shape, "the exponent of '" + a.text + "' must be a scalar, got " + str(e) + transpose, exponent);
    if (a.text == ".^" || is_scalar(b)) return b;
    if (!integer_exponent(exponent))
      fail(ErrorKind::Shape,
           "'^' of " + described(b) + " needs an integer literal exponent (use '.^' for elementwise powers" +
               transpose + ")",
           a);
    need_square(b, "'^'", a);
    return b;
  }

  // a + b where a or b may be a scalar: entrywise onto a vector (LANGUAGE.md),
  // never onto a matrix. `scalar_side` spans the scalar operand, for messages.
  TShape add_shapes(TShape a, TShape b, const std::string& op, const Ast& at, const Ast& scalar_first,
                    const Ast& scalar_last, bool scalar_mentions_unknowns) {
    const bool a_scalar = is_scalar(a), b_scalar = is_scalar(b);
    if (a_scalar == b_scalar) {
      unify_shapes(a, b, op, at);
      return a;
    }
    const TShape other = a_scalar ? b : a;
    const bool rows_many = dims.is_many(other.r), cols_many = dims.is_many(other.c);
    const bool vector = (rows_many && dims.is_one(other.c)) || (cols_many && dims.is_one(other.r));
    if (vector) {
      if (scalar_mentions_unknowns) cost += kBroadcastCost;
      return other;
    }
    if (rows_many && cols_many) {
      const std::string s = snippet(source_, scalar_first, scalar_last, "s");
      const bool simple = s.find_first_of(" +-*/:") == std::string::npos;
      const std::string factor = s == "1" ? "" : (simple ? s : "(" + s + ")") + "*";
      auto name = [&](int d, const char* free) { return dims.value(d) ? dims.str(d) : std::string(free); };
      const bool square = dims.find(other.r) == dims.find(other.c);
      const std::string r = name(other.r, "n"), c = square ? r : name(other.c, "m");
      // I only where the matrix may be square: free sizes, or equal ones.
      const bool may_be_square = square || !dims.value(other.r) || !dims.value(other.c);
      const std::string what = op == "+"  ? "cannot add a scalar to " + described(other)
                               : a_scalar ? "cannot subtract " + described(other) + " from a scalar"
                                          : "cannot subtract a scalar from " + described(other);
      fail(ErrorKind::Shape,
           what + " in '" + op + "': write " +
               (may_be_square
                    ? factor + "I for " + (factor.empty() ? "the identity" : "a multiple of the identity") + ", or "
                    : std::string()) +
               factor + "ones(" + r + "," + c + ") for every entry",
           at);
    }
    unify_shapes(a, b, op, at);  // a scalar and a shape that may still be 1 x 1 (I)
    return a;
  }

  // Which kids of a chain must be scalars when the chain must: every term of
  // a sum, every factor of an entrywise product; a matrix product may make a
  // scalar of vectors (x'*y), so its factors are free.
  static bool passes_scalar_down(const Ast& a) {
    bool sum = true, entrywise = true;
    for (std::size_t i = 1; i < a.ops.size(); ++i) {
      sum = sum && (a.ops[i] == "+" || a.ops[i] == "-");
      entrywise = entrywise && (a.ops[i] == ".*" || a.ops[i] == "./");
    }
    return sum || entrywise;
  }

  TShape chain(const Ast& a, bool must) {
    if (&a == terms_of_) return some_terms(a);
    const bool down = must && passes_scalar_down(a);
    TShape acc = run(*a.kids[0], down);
    bool acc_mentions = unknowns_.mentioning.count(a.kids[0].get()) > 0;
    for (std::size_t i = 1; i < a.kids.size(); ++i) {
      TShape r = run(*a.kids[i], down);
      const std::string& op = a.ops[i];
      const Ast& at = *a.kids[i];
      const bool r_mentions = unknowns_.mentioning.count(&at) > 0;
      if (op == "+" || op == "-") {
        const bool acc_is_scalar_side = is_scalar(acc);
        acc = acc_is_scalar_side ? add_shapes(acc, r, op, at, *a.kids[0], *a.kids[i - 1], acc_mentions)
                                 : add_shapes(acc, r, op, at, at, at, r_mentions);
      } else if (op == ":") {
        unify_shapes(acc, r, ":", at);
        acc = scalar();
      } else if (op == "*") {
        if (is_scalar(acc)) {
          acc = r;
        } else if (!is_scalar(r)) {
          if (!dims.unify(acc.c, r.r))
            fail(ErrorKind::Shape, "shape mismatch in '*': " + str(acc) + " times " + str(r), at);
          acc = {acc.r, r.c};
        }
      } else if (op == "/") {
        need_scalar(r, "the divisor of '/'", at);
      } else {  // .* ./ : a scalar operand scales entrywise, as in MATLAB (2.*x)
        if (is_scalar(acc)) acc = r;
        else if (!is_scalar(r)) unify_shapes(acc, r, op, at);
      }
      acc_mentions = acc_mentions || r_mentions;
    }
    return acc;
  }
  // Dimension arguments of eye/ones/zeros/reshape: integers, names, products.
  int dim_arg(const Ast& a) {
    if (a.kind == Ast::Kind::Number) {
      if (!a.integer_literal || a.number < 1 || a.number > 1e9)
        fail(ErrorKind::Syntax, "a dimension must be a positive integer up to 1e9", a);
      return dim_of(Dim::literal(static_cast<std::int64_t>(a.number)));
    }
    if (a.kind == Ast::Kind::Name) {
      if (decls_.count(a.text) || unknowns_.index.count(a.text))
        fail(ErrorKind::Name, "'" + a.text + "' is a value, not a dimension", a);
      return dim_of(Dim::symbol(a.text));
    }
    if (a.kind == Ast::Kind::Chain) {
      Dim d = Dim::literal(1);
      for (std::size_t i = 0; i < a.kids.size(); ++i) {
        if (i > 0 && a.ops[i] != "*") fail(ErrorKind::Syntax, "a dimension may only multiply", a);
        auto v = dims.value(dim_arg(*a.kids[i]));
        d = d * *v;
      }
      return dim_of(d);
    }
    fail(ErrorKind::Syntax, "expected a dimension (an integer or a name)", a);
  }

  // n*k when both are known; otherwise a placeholder, resolved by a second
  // pass once the factors have names (see typecheck()).
  int product(int a, int b) {
    auto va = dims.value(a), vb = dims.value(b);
    if (va && vb) return dim_of(*va * *vb);
    if (dims.is_one(a)) return b;  // vec(x) of a vector x: its rows
    if (dims.is_one(b)) return a;
    int id = dims.fresh(dims.is_many(a) || dims.is_many(b));  // n*k > 1 when n > 1
    if (dims.find(a) == dims.find(b)) dims.set_square_of(id, a);
    deferred.push_back(id);
    return id;
  }

 public:
  std::vector<int> deferred;  // placeholders for products of unknown dimensions

 private:
  void nargs(const Ast& a, std::size_t lo, std::size_t hi) {
    const std::string& f = a.text;
    if (a.kids.size() < lo || a.kids.size() > hi)
      fail(ErrorKind::Syntax,
           f + " takes " + (lo == hi ? std::to_string(lo) : std::to_string(lo) + " or " + std::to_string(hi)) +
               " argument" + (hi == 1 ? "" : "s") + ", got " + std::to_string(a.kids.size()),
           a);
  }

  // A call: the operator from ops.def (call_op), its shape by its ShapeRule.
  TShape call(const Ast& a, bool must) {
    const std::string& f = a.text;
    const auto known = unknowns_.calls.find(&a);  // call_op(f), looked up once per node
    const std::optional<Op> op = known != unknowns_.calls.end() ? known->second : call_op(f);
    if (!op) {
      if (decls_.count(f) || unknowns_.index.count(f))
        fail(ErrorKind::Syntax, "'" + f + "' is a symbol, not a function (write '*' for a product)", a);
      fail(ErrorKind::Name,
           unknown_function_message(f, a.kids.size() == 1 ? snippet(source_, *a.kids[0], *a.kids[0], "") : ""), a);
    }
    const ShapeRule rule = op_shape_rule(*op);
    if (rule == ShapeRule::Given) return leaf_call(*op, a);
    if (rule == ShapeRule::Special) return special_call(*op, a, must);
    const int arity = op_arity(*op);
    if (arity < 1) throw std::logic_error("typecheck: no call syntax for " + std::string(op_name(*op)));
    nargs(a, static_cast<std::size_t>(arity), static_cast<std::size_t>(arity));
    // A function of the shape of its argument is a scalar only of a scalar.
    const bool down = must && (rule == ShapeRule::Same || rule == ShapeRule::SquareSame ||
                               rule == ShapeRule::VectorSame || rule == ShapeRule::Transposed);
    std::vector<TShape> args;
    for (const auto& k : a.kids) args.push_back(run(*k, down));
    const TShape x = args[0];
    if ((*op == Op::Sum || *op == Op::Norm1 || *op == Op::Norm2 || *op == Op::Trace) && is_scalar(x) &&
        unknowns_.mentioning.count(a.kids[0].get()) && scalars_only(*a.kids[0]))
      cost += kScalarReductionCost;
    switch (rule) {
      case ShapeRule::Same: return x;
      case ShapeRule::SquareSame: need_square(x, f, a); return x;
      case ShapeRule::SquareScalar: need_square(x, f, a); return scalar();
      case ShapeRule::AnyScalar: return scalar();
      case ShapeRule::VectorSame:
      case ShapeRule::VectorScalar:
        if (!is_scalar(x) && !dims.is_one(x.c) && !dims.is_one(x.r))
          fail(ErrorKind::Shape, f + " needs a vector, got " + str(x), a);
        return rule == ShapeRule::VectorSame ? x : scalar();
      case ShapeRule::Transposed: return {x.c, x.r};
      case ShapeRule::Given:
      case ShapeRule::Special: break;  // above
    }
    throw std::logic_error("typecheck: no shape rule for " + std::string(op_name(*op)));
  }

  // Leaves written as calls, whose arguments are dimensions: eye(n),
  // ones(n[,m]), zeros(n[,m]).
  TShape leaf_call(Op op, const Ast& a) {
    if (op == Op::Identity) {
      nargs(a, 1, 1);
      int d = dim_arg(*a.kids[0]);
      return {d, d};
    }
    if (op == Op::Commutation) {  // commutation(m, n): mn x mn
      nargs(a, 2, 2);
      int m = dim_arg(*a.kids[0]), n = dim_arg(*a.kids[1]);
      if (record_) commutation_dims[&a] = {m, n};
      int mn = product(m, n);
      return {mn, mn};
    }
    if (op == Op::Ones || op == Op::Zeros) {
      nargs(a, 1, 2);
      int r = dim_arg(*a.kids[0]);
      int c = a.kids.size() == 2 ? dim_arg(*a.kids[1]) : dim_of(Dim::literal(1));
      return {r, c};
    }
    throw std::logic_error("typecheck: no call syntax for the leaf " + std::string(op_name(op)));
  }

  // The operators whose ShapeRule is Special: a rule of their own each.
  TShape special_call(Op op, const Ast& a, bool must) {
    if (op == Op::Reshape) {
      nargs(a, 3, 3);
      run(*a.kids[0]);
      return {dim_arg(*a.kids[1]), dim_arg(*a.kids[2])};
    }
    if (op == Op::Kron) {
      nargs(a, 2, 2);
      TShape x = run(*a.kids[0]), y = run(*a.kids[1]);
      return {product(x.r, y.r), product(x.c, y.c)};
    }
    if (op == Op::Diag) {  // diag(vector) is Diag, diag(matrix) DiagPart
      nargs(a, 1, 1);
      TShape x = run(*a.kids[0], must);
      if (is_scalar(x)) return x;
      if (dims.is_one(x.c)) return {x.r, x.r};
      if (dims.is_one(x.r)) return {x.c, x.c};
      need_square(x, "diag of a matrix", a);
      return {x.r, dim_of(Dim::literal(1))};
    }
    if (op == Op::Vec) {
      nargs(a, 1, 1);
      TShape x = run(*a.kids[0]);
      return {product(x.r, x.c), dim_of(Dim::literal(1))};
    }
    throw std::logic_error("typecheck: no shape rule for " + std::string(op_name(op)));
  }
};

std::string fresh_dim_name(std::set<std::string>& taken) {
  static const char* pool[] = {"n", "k", "m", "p", "q", "r", "d", "l", "t", "u", "v"};
  for (const char* p : pool)
    if (taken.insert(p).second) return p;
  for (int i = 1;; ++i) {
    std::string s = "n" + std::to_string(i);
    if (taken.insert(s).second) return s;
  }
}

// Names the free dimensions of a pass n, k, m, ... in the order the symbols
// that carry them are named.
class DimNamer {
 public:
  DimNamer(Pass& pass, std::set<std::string> taken) : pass_(&pass), taken_(std::move(taken)) {}

  void name_symbol(const std::string& symbol) {
    auto it = pass_->symbols.find(symbol);
    if (it == pass_->symbols.end()) return;
    name(it->second.r);
    name(it->second.c);
  }
  bool named(int id) {
    const int r = pass_->dims.find(id);
    return pass_->dims.value(r) || names_.count(r);
  }
  Dim dim(int id) {
    const int r = pass_->dims.find(id);
    if (auto v = pass_->dims.value(r)) return *v;
    auto it = names_.find(r);
    if (it == names_.end()) throw Error(ErrorKind::Inference, "internal: unnamed dimension");
    return it->second;
  }
  // `x: vector(n)`, in the declaration syntax, for a named symbol.
  std::string declaration(const std::string& symbol, Kind kind) {
    const TShape s = pass_->symbols.at(symbol);
    switch (kind) {
      case Kind::Scalar: return symbol + ": scalar";
      case Kind::Vector: return symbol + ": vector(" + dim(s.r).str() + ")";
      case Kind::Matrix: return symbol + ": matrix(" + dim(s.r).str() + "," + dim(s.c).str() + ")";
    }
    return symbol;
  }

 private:
  void name(int id) {
    const int r = pass_->dims.find(id);
    if (pass_->dims.value(r) || names_.count(r)) return;
    names_[r] = Dim::symbol(fresh_dim_name(taken_));
  }

  Pass* pass_;
  std::set<std::string> taken_;
  std::map<int, Dim> names_;
};

// Builds IR from the AST once every shape is known.
class Builder {
 public:
  Builder(Context& cx, Pass& pass, DimNamer& namer, std::map<std::string, Expr>& syms)
      : cx_(cx), pass_(pass), namer_(namer), syms_(syms) {}

  Dim dim(int id) { return namer_.dim(id); }
  Shape shape(TShape s) { return {dim(s.r), dim(s.c)}; }

  Expr build(const Ast& a) {
    try {
      return visit(a);
    } catch (const Error& e) {
      if (e.column() > 0) throw;
      throw Error(e.kind(), e.what(), a.pos + 1, a.len);
    }
  }

 private:
  Context& cx_;
  Pass& pass_;
  DimNamer& namer_;
  std::map<std::string, Expr>& syms_;

  Expr visit(const Ast& a) {
    switch (a.kind) {
      case Ast::Kind::Number:
        return constant(cx_, a.number);
      case Ast::Kind::Name: {
        if (auto it = syms_.find(a.text); it != syms_.end()) return it->second;
        TShape s = pass_.shapes.at(&a);
        return identity(cx_, dim(s.r));  // `I`
      }
      case Ast::Kind::Neg:
        return neg(build(*a.kids[0]));
      case Ast::Kind::Transpose:
        return transpose(build(*a.kids[0]));
      case Ast::Kind::Power: {
        Expr b = build(*a.kids[0]);
        Expr e = build(*a.kids[1]);
        if (a.text == ".^") return epow(b, e);
        if (b->is_scalar()) return pow(b, e);
        if (!(std::fabs(e->value) <= static_cast<double>(kMaxMatrixPower)))  // before the cast
          throw Error(ErrorKind::Limit, "matrix power too large (limit " + std::to_string(kMaxMatrixPower) + ")",
                      a.pos + 1, a.len);
        return matpow(b, static_cast<long long>(e->value));
      }
      case Ast::Kind::Chain: {
        Expr acc = build(*a.kids[0]);
        std::vector<Expr> terms;
        for (std::size_t i = 1; i < a.kids.size(); ++i) {
          const std::string& op = a.ops[i];
          if (op == "*" || op == "/") {  // a run of products: one mul, see product_run
            i = product_run(a, i, acc) - 1;
            continue;
          }
          Expr r = build(*a.kids[i]);
          if (op == "+" || op == "-") {  // collect the whole sum, then add once
            if (terms.empty()) terms.push_back(acc);
            terms.push_back(op == "+" ? r : neg(r));
            continue;
          }
          try {
            if (op == ":")
              acc = frobenius(acc, r);
            else if (op == ".*") acc = hadamard(acc, r);
            else acc = ediv(acc, r);
          } catch (const Error& e) {
            if (e.column() > 0) throw;
            throw Error(e.kind(), e.what(), a.kids[i]->pos + 1, a.kids[i]->len);
          }
        }
        return terms.empty() ? acc : add(broadcast(std::move(terms)));
      }
      case Ast::Kind::Call:
        return call(a);
    }
    return nullptr;
  }

  // The run of '*' and '/' of chain `a` that starts at operand i, times
  // acc, built as one product: the builder sees every factor at once, so the
  // constants fold exactly whatever their order (1e-200*1e-200*x*1e200*1e200
  // is x) and a product of k factors costs one pass, not k. Returns the index
  // after the run. On an error the product is built again pairwise, left to
  // right, so that the error points at the factor that caused it.
  std::size_t product_run(const Ast& a, std::size_t i, Expr& acc) {
    std::size_t end = i;
    std::vector<Expr> operands;
    while (end < a.kids.size() && (a.ops[end] == "*" || a.ops[end] == "/")) operands.push_back(build(*a.kids[end++]));
    try {
      std::vector<Expr> factors{acc};
      for (std::size_t j = 0; j < operands.size(); ++j) {
        if (a.ops[i + j] == "*") {
          factors.push_back(operands[j]);
        } else {
          if (!operands[j]->is_scalar()) throw Error(ErrorKind::Shape, "pairwise");  // div() says what is wrong
          factors.push_back(pow(operands[j], -1.0));
        }
      }
      acc = mul(std::move(factors));
      return end;
    } catch (const Error&) {
    }
    for (std::size_t j = 0; j < operands.size(); ++j) {
      try {
        acc = a.ops[i + j] == "*" ? mul(acc, operands[j]) : div(acc, operands[j]);
      } catch (const Error& e) {
        if (e.column() > 0) throw;
        throw Error(e.kind(), e.what(), a.kids[i + j]->pos + 1, a.kids[i + j]->len);
      }
    }
    return end;  // the whole product fails only pairwise (never reached otherwise)
  }

  // The terms of a sum with scalars added to a vector (LANGUAGE.md): each
  // scalar s becomes s*ones(n), so the IR's sums stay of one shape.
  std::vector<Expr> broadcast(std::vector<Expr> terms) {
    auto vector = std::find_if(terms.begin(), terms.end(), [](Expr t) { return !t->is_scalar(); });
    if (vector == terms.end()) return terms;
    const Shape shape = (*vector)->shape;
    for (Expr& t : terms)
      if (t->is_scalar()) t = mul(t, ones(cx_, shape));
    return terms;
  }

  // A call: the leaves and reshape take their sizes from the inferred
  // shape; every other operator is built by apply().
  Expr call(const Ast& a) {
    const Op op = *call_op(a.text);  // Pass::call checked the name
    TShape s = pass_.shapes.at(&a);
    if (op == Op::Identity) return identity(cx_, dim(s.r));
    if (op == Op::Ones) return ones(cx_, shape(s));
    if (op == Op::Zeros) return zeros(cx_, shape(s));
    if (op == Op::Commutation) {
      auto [m, n] = pass_.commutation_dims.at(&a);
      return commutation(cx_, dim(m), dim(n));
    }
    if (op == Op::Reshape) return reshape(build(*a.kids[0]), shape(s));
    std::vector<Expr> kids;
    for (const auto& k : a.kids) kids.push_back(build(*k));
    return apply(op, std::move(kids));
  }
};

// The arguments of eye/ones/zeros (all) and reshape (after the first) are
// dimensions, not values: the index of the first, for such calls.
std::optional<std::size_t> first_dimension_arg(const Ast& a) {
  if (a.kind != Ast::Kind::Call) return std::nullopt;
  std::optional<Op> op = call_op(a.text);
  if (!op) return std::nullopt;
  if (op_shape_rule(*op) == ShapeRule::Given) return 0;  // leaves written as calls
  if (*op == Op::Reshape) return 1;
  return std::nullopt;
}

void collect_names(const Ast& a, std::vector<Undeclared>& out, std::set<std::string>& seen,
                   std::set<std::string>& dim_args) {
  // Recursive: the depth is bounded by the parser's height limit.
  if (a.kind == Ast::Kind::Name) {
    if (seen.insert(a.text).second) out.push_back({a.text, a.pos});
    return;
  }
  if (std::optional<std::size_t> first = first_dimension_arg(a)) {
    if (*first == 1) collect_names(*a.kids[0], out, seen, dim_args);
    std::function<void(const Ast&)> dims = [&](const Ast& d) {
      if (d.kind == Ast::Kind::Name) dim_args.insert(d.text);
      for (auto& k : d.kids) dims(*k);
    };
    for (std::size_t i = *first; i < a.kids.size(); ++i) dims(*a.kids[i]);
    return;
  }
  for (auto& k : a.kids) collect_names(*k, out, seen, dim_args);
}

// Marks the nodes that mention an undeclared symbol, indexes each use of one
// and looks up each call's operator, once, for the many passes of a search.
void prepare(const Ast& a, Unknowns& u) {
  // Post-order without recursion: the tree may be 2000 deep.
  std::vector<std::pair<const Ast*, std::size_t>> stack{{&a, 0}};
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->kids.size()) {
      const Ast* kid = node->kids[next++].get();
      stack.push_back({kid, 0});
      continue;
    }
    bool mentions = false;
    if (node->kind == Ast::Kind::Name)
      if (auto it = u.index.find(node->text); it != u.index.end()) {
        mentions = true;
        u.at_node[node] = it->second;
      }
    if (node->kind == Ast::Kind::Call) u.calls[node] = call_op(node->text);
    for (const auto& k : node->kids) mentions = mentions || u.mentioning.count(k.get());
    if (mentions) u.mentioning.insert(node);
    stack.pop_back();
  }
}

// A full reading that type-checks, and its fit.
struct Found {
  std::vector<Kind> kinds;
  int score = 0;
};

struct SearchOutcome {
  std::optional<Found> best;
  std::optional<Found> tie;  // another reading that fits as well as `best`
  // When no reading type-checks: the conflict of the reading that got
  // furthest (the rightmost column; a whole expression that is not a scalar
  // is furthest), the most habitual first; and whether the readings failed
  // in different places (if not, the undeclared symbols are not the cause).
  std::optional<Error> first_error;
  bool varied = false;
  std::size_t work = 0;  // AST nodes visited
};

// The total work of one search, in AST nodes visited: a long expression whose
// readings all fail is an error, not a hang.
constexpr std::size_t kMaxInferenceWork = 10'000'000;

// Finds the reading that fits best: the highest total name preference, less
// its costs (kBroadcastCost, kScalarTransposeCost, kScalarReductionCost), among the
// readings that type-check (and, when `want_scalar`, make a scalar). A depth-
// first branch and bound: a pass fixes a symbol's kind where it first meets
// it (most preferred kind first), a shape conflict drops the branch at once,
// and so does a branch that cannot beat the best reading found. Complete for
// any number of symbols; the work bound makes it an error, never a guess.
class Search {
 public:
  Search(const std::map<std::string, const Declaration*>& decls, const Unknowns& unknowns,
         const std::set<std::string>& dim_names, std::string_view source, const Ast& ast, bool want_scalar)
      : decls_(decls),
        unknowns_(unknowns),
        dim_names_(dim_names),
        source_(source),
        ast_(ast),
        want_scalar_(want_scalar) {}

  // run() over the terms marked in `active` of the sum `root` alone.
  SearchOutcome run_terms(const Ast& root, const std::vector<bool>& active, const Reading& start, std::size_t budget) {
    terms_of_ = &root;
    terms_ = &active;
    SearchOutcome out = run(start, budget);
    terms_of_ = nullptr;
    terms_ = nullptr;
    return out;
  }

  SearchOutcome run(const Reading& start, std::size_t budget = kMaxInferenceWork) {
    struct Frame {
      Reading reading;
      int cost;  // what the pass met before the open symbol: a lower bound
    };
    SearchOutcome out;
    std::size_t& work = out.work;
    auto spend = [&](const Pass& p) {
      if ((work += p.visited) > budget)
        throw Error(ErrorKind::Limit, "cannot infer the kinds of " + std::to_string(unknowns_.list.size()) +
                                          " undeclared symbols of an expression this long within the search "
                                          "limit; declare them with --decl");
    };
    // The most preferred full reading first: when it type-checks without a
    // broadcast, no other reading can fit as well.
    Reading greedy = start;
    for (std::size_t i = 0; i < greedy.size(); ++i)
      if (!greedy[i]) greedy[i] = preferred_kinds(unknowns_.list[i].name)[0];
    std::vector<Frame> stack{{start, 0}};
    {
      auto p = searching(greedy);
      try {
        p->root = p->run_root(ast_, want_scalar_);
        spend(*p);
        consider(out, *p, greedy);
        if (p->cost == 0) return out;
      } catch (const Error& e) {
        spend(*p);
        if (e.kind() != ErrorKind::Shape) throw;
        note(out, e);
      }
    }
    while (!stack.empty()) {
      Frame f = std::move(stack.back());
      stack.pop_back();
      int open = 0, fit = 0;
      for (std::size_t i = 0; i < f.reading.size(); ++i)
        f.reading[i] ? fit += preference(unknowns_.list[i].name, *f.reading[i]) : ++open;
      if (out.best && fit - f.cost + kBestFit * open < out.best->score) continue;
      auto p = searching(f.reading);
      try {
        p->root = p->run_root(ast_, want_scalar_);
      } catch (const NeedKind& need) {
        spend(*p);
        const auto kinds = preferred_kinds(unknowns_.list[need.symbol].name);
        for (std::size_t j = kinds.size(); j-- > 0;) {  // the most preferred on top
          Reading next = f.reading;
          next[need.symbol] = kinds[j];
          stack.push_back({std::move(next), p->cost});
        }
        continue;
      } catch (const Error& e) {
        spend(*p);
        if (e.kind() != ErrorKind::Shape) throw;  // syntax-level errors do not depend on kinds
        note(out, e);
        continue;
      }
      spend(*p);
      consider(out, *p, f.reading);
    }
    return out;
  }

  // The pass of a full reading that type-checks, with every shape recorded.
  std::unique_ptr<Pass> replay(const std::vector<Kind>& kinds) {
    Reading full(kinds.begin(), kinds.end());
    auto p = std::make_unique<Pass>(decls_, unknowns_, full, dim_names_, source_, /*record=*/true);
    p->root = p->run_root(ast_, want_scalar_);
    return p;
  }

  // The shape conflict of a full reading, if it has one.
  std::optional<Error> conflict(const Reading& full) {
    Pass p(decls_, unknowns_, full, dim_names_, source_);
    try {
      p.run_root(ast_, want_scalar_);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Shape) throw;
      return e;
    }
    return std::nullopt;
  }

 private:
  const std::map<std::string, const Declaration*>& decls_;
  const Unknowns& unknowns_;
  const std::set<std::string>& dim_names_;
  std::string_view source_;
  const Ast& ast_;
  bool want_scalar_;

  const Ast* terms_of_ = nullptr;  // run_terms()
  const std::vector<bool>* terms_ = nullptr;

  std::unique_ptr<Pass> searching(const Reading& r) {
    auto p = std::make_unique<Pass>(decls_, unknowns_, r, dim_names_, source_);
    if (terms_of_) p->only_terms(*terms_of_, *terms_);
    return p;
  }

  static void note(SearchOutcome& out, const Error& e) {
    auto progress = [](const Error& x) { return x.column() == 0 ? std::numeric_limits<int>::max() : x.column(); };
    if (!out.first_error) {
      out.first_error = e;
      return;
    }
    out.varied = out.varied || e.column() != out.first_error->column();
    if (progress(e) > progress(*out.first_error)) out.first_error = e;
  }

  void consider(SearchOutcome& out, const Pass& p, const Reading& reading) {
    Found f;
    for (std::size_t i = 0; i < reading.size(); ++i) {
      const Kind k = reading[i].value_or(preferred_kinds(unknowns_.list[i].name)[0]);  // a symbol never met
      f.kinds.push_back(k);
      f.score += preference(unknowns_.list[i].name, k);
    }
    f.score -= p.cost;
    if (!out.best || f.score > out.best->score) {
      out.best = std::move(f);
      out.tie.reset();
    } else if (f.score == out.best->score && f.kinds != out.best->kinds && !out.tie) {
      out.tie = std::move(f);
    }
  }
};

// The search of a scalar sum whose terms fall into groups that share no
// undeclared symbol: each term must be a scalar, so the groups are independent
// and searched one by one (20 regularized terms, not 3^80 readings); the best
// reading is the union of the groups' best, a tie in one group a tie.
SearchOutcome search_all(Search& search, const Ast& ast, const Unknowns& unknowns, const Reading& given,
                         bool want_scalar) {
  const bool sum = ast.kind == Ast::Kind::Chain &&
                   std::all_of(ast.ops.begin() + 1, ast.ops.end(), [](const auto& o) { return o == "+" || o == "-"; });
  if (!want_scalar || !sum) return search.run(given);
  // Groups: union-find over the terms, joined by the symbols they share.
  const std::size_t terms = ast.kids.size();
  std::vector<std::size_t> group(terms);
  for (std::size_t t = 0; t < terms; ++t) group[t] = t;
  auto find = [&](std::size_t t) {
    while (group[t] != t) t = group[t] = group[group[t]];
    return t;
  };
  std::vector<std::optional<std::size_t>> owner(unknowns.list.size());  // the first term naming each symbol
  std::vector<std::vector<std::size_t>> names(terms);
  for (std::size_t t = 0; t < terms; ++t) {
    each_node(*ast.kids[t], [&](const Ast& a) {
      auto u = unknowns.at_node.find(&a);
      if (u == unknowns.at_node.end()) return true;
      names[t].push_back(u->second);
      if (!owner[u->second])
        owner[u->second] = t;
      else
        group[find(t)] = find(*owner[u->second]);
      return true;
    });
  }
  std::map<std::size_t, std::vector<bool>> groups;
  for (std::size_t t = 0; t < terms; ++t) {
    auto& active = groups[find(t)];
    active.resize(terms);
    active[t] = true;
  }
  if (groups.size() < 2) return search.run(given);
  SearchOutcome all;
  all.best = Found{};
  all.best->kinds.assign(unknowns.list.size(), Kind::Scalar);
  std::optional<std::pair<std::vector<bool>, Found>> tie;  // the first group with a tie
  std::size_t budget = kMaxInferenceWork;
  for (const auto& [root, active] : groups) {
    SearchOutcome o = search.run_terms(ast, active, given, budget);
    budget -= std::min(budget, o.work);
    if (!o.best) return o;  // this group's conflict
    for (std::size_t t = 0; t < terms; ++t)
      if (active[t])
        for (std::size_t i : names[t]) all.best->kinds[i] = o.best->kinds[i];
    all.best->score += o.best->score;
    if (o.tie && !tie) tie = std::make_pair(active, std::move(*o.tie));
  }
  if (tie) {
    all.tie = Found{all.best->kinds, all.best->score};
    for (std::size_t t = 0; t < terms; ++t)
      if (tie->first[t])
        for (std::size_t i : names[t]) all.tie->kinds[i] = tie->second.kinds[i];
  }
  return all;
}

// Every name a fresh dimension name may not take.
std::set<std::string> taken_names(const std::set<std::string>& dim_names, const std::vector<Undeclared>& names,
                                  const Declarations& decls) {
  std::set<std::string> taken = dim_names;
  for (const auto& n : names) taken.insert(n.name);
  for (const auto& d : decls) taken.insert(d.name);
  return taken;
}

// No reading type-checks: the conflict of the most preferred one, and for a
// non-scalar result, that no kinds of the symbols make it a scalar.
Error no_reading(const SearchOutcome& found, const Unknowns& unknowns) {
  if (!found.first_error)
    return Error(ErrorKind::Inference, "cannot infer the kinds of the symbols; declare them with --decl");
  const Error& e = *found.first_error;
  if (unknowns.list.empty()) return e;
  const std::string m = e.what();
  std::string which;
  constexpr std::size_t kNamed = 6;
  for (std::size_t i = 0; i < unknowns.list.size() && i < kNamed; ++i) which += (i ? ", " : "") + unknowns.list[i].name;
  if (unknowns.list.size() > kNamed) which += ", ...";
  if (m.rfind("the expression is ", 0) == 0)
    return Error(e.kind(), m + " (whatever the kinds of " + which + ")", e.column(), e.length());
  if (!found.varied) return e;  // every reading fails there: not for the symbols' kinds
  return Error(e.kind(), m + " (and no other kinds of " + which + " type-check)", e.column(), e.length());
}

// Two readings fit equally well: name the symbols they differ in and give the
// --decl that picks each.
Error ambiguity(Search& search, const Found& a, const Found& b, const Unknowns& unknowns,
                const std::set<std::string>& dim_names, const std::vector<Undeclared>& names,
                const Declarations& decl_list) {
  const std::set<std::string> taken = taken_names(dim_names, names, decl_list);
  std::unique_ptr<Pass> pa = search.replay(a.kinds), pb = search.replay(b.kinds);
  DimNamer na(*pa, taken), nb(*pb, taken);
  for (const auto& n : names) {
    na.name_symbol(n.name);
    nb.name_symbol(n.name);
  }
  std::string which, da, db;
  for (std::size_t i = 0; i < unknowns.list.size(); ++i) {
    if (a.kinds[i] == b.kinds[i]) continue;
    const std::string& n = unknowns.list[i].name;
    which += (which.empty() ? "" : ", ") + n + " (" + kind_word(a.kinds[i]) + " or " + kind_word(b.kinds[i]) + ")";
    da += (da.empty() ? "" : "; ") + na.declaration(n, a.kinds[i]);
    db += (db.empty() ? "" : "; ") + nb.declaration(n, b.kinds[i]);
  }
  return Error(ErrorKind::Inference, "cannot tell the kind of " + which +
                                         " from its use: two readings fit equally well; declare one, --decl '" + da +
                                         "' or --decl '" + db + "'");
}

// What inference assumed that a user may not have meant (LANGUAGE.md): a
// reading against a name's habit, a lone letter read as an exponent (X^T), two
// symbols that differ only in case, sum/norm/tr of a scalar.
class Warnings {
 public:
  Warnings(Pass& pass, DimNamer& namer, Search& search, const Unknowns& unknowns, const std::vector<Kind>& kinds,
           const Reading& given, std::string_view source)
      : pass_(pass),
        namer_(namer),
        search_(search),
        unknowns_(unknowns),
        kinds_(kinds),
        given_(given),
        source_(source) {}

  std::vector<InferenceWarning> collect(const Ast& ast, const std::vector<Undeclared>& names) {
    walk(ast);
    against_habit();
    case_twins(names);
    std::stable_sort(out_.begin(), out_.end(), [](const auto& x, const auto& y) { return x.column < y.column; });
    return std::move(out_);
  }

 private:
  Pass& pass_;
  DimNamer& namer_;
  Search& search_;
  const Unknowns& unknowns_;
  const std::vector<Kind>& kinds_;
  const Reading& given_;  // kinds the values gave
  std::string_view source_;
  std::vector<InferenceWarning> out_;
  std::set<std::string> exponents_;  // lone letters read as exponents: warned about once, there

  void warn(std::string message, int pos, int len) { out_.push_back({std::move(message), pos + 1, len}); }

  bool inferred_scalar(const std::string& n) {
    auto it = unknowns_.index.find(n);
    return it != unknowns_.index.end() && kinds_[it->second] == Kind::Scalar;
  }

  void walk(const Ast& root) {
    each_node(root, [&](const Ast& a) {
      if (a.kind == Ast::Kind::Power && a.text == "^") exponent_letter(a);
      if (a.kind == Ast::Kind::Call) scalar_argument(a);
      return true;
    });
  }

  // X^T: an undeclared lone letter after '^', read as a scalar exponent.
  void exponent_letter(const Ast& a) {
    const Ast& e = *a.kids[1];
    if (e.kind != Ast::Kind::Name || e.text.size() != 1 || !unknowns_.index.count(e.text)) return;
    if (!exponents_.insert(e.text).second) return;
    const std::string base = snippet(source_, *a.kids[0], *a.kids[0], "X");
    warn("'" + base + "^" + e.text + "' reads " + e.text + " as a scalar exponent; did you mean " + base +
             "' (the transpose)?",
         e.pos, e.len);
  }

  // sum, norm1, norm2 or tr of a scalar: a slip (sum(x'*y) for sum(x.*y)), a
  // symbol read as a scalar, or the trace trick written out (tr(x'*A*x)).
  void scalar_argument(const Ast& a) {
    const std::optional<Op> op = call_op(a.text);
    if (!op || !(*op == Op::Sum || *op == Op::Norm1 || *op == Op::Norm2 || *op == Op::Trace)) return;
    if (a.kids.size() != 1 || !pass_.is_scalar(pass_.shapes.at(a.kids[0].get()))) return;
    std::set<std::string> scalars;  // the symbols in it read as scalars
    each_node(*a.kids[0], [&](const Ast& k) {
      if (k.kind == Ast::Kind::Name && inferred_scalar(k.text)) scalars.insert(k.text);
      return true;
    });
    std::string which;
    for (const auto& n : scalars) which += (which.empty() ? "" : ", ") + n;
    const bool norm = *op == Op::Norm1 || *op == Op::Norm2;
    warn("'" + snippet(source_, a, a, a.text.c_str()) + "' has a scalar argument, so it is " +
             (norm ? "its absolute value" : "that scalar") +
             (which.empty() ? std::string()
                            : " (" + which + (scalars.size() == 1 ? " is" : " are") + " read as a scalar)"),
         a.pos, a.len);
  }

  // An upper-case name read as a scalar or a vector, a lower-case one as a
  // matrix: say so, and why the habitual reading fails.
  void against_habit() {
    for (std::size_t i = 0; i < unknowns_.list.size(); ++i) {
      const auto& [name, pos] = unknowns_.list[i];
      const Kind k = kinds_[i];
      const bool upper = is_upper(name);
      if (given_[i] || exponents_.count(name) || (upper ? k == Kind::Matrix : k != Kind::Matrix))
        continue;  // a kind the values gave is meant, like a declaration
      const Kind habit = upper ? Kind::Matrix : Kind::Scalar;
      std::string message = name + " is read as " + kind_word(k) + " (" + namer_.declaration(name, k) + "), though " +
                            (upper ? "an upper-case name usually means a matrix"
                                   : "a lower-case name usually means a vector or a scalar");
      message += why_not(i, habit);
      warn(std::move(message), pos, static_cast<int>(name.size()));
    }
  }

  // The chosen reading with symbol i of kind `habit` instead (a matrix for an
  // upper-case name; a scalar, the likelier slip, for a lower-case one): its conflict.
  std::string why_not(std::size_t i, Kind habit) {
    Reading other(kinds_.begin(), kinds_.end());
    other[i] = habit;
    if (std::optional<Error> e = search_.conflict(other))
      return std::string("; as ") + kind_word(habit) + ": " + e->what();
    return std::string("; declare it to read it as ") + kind_word(habit);
  }

  // sigma and Sigma: two symbols, which a user may have meant as one (unless
  // both are declared).
  void case_twins(const std::vector<Undeclared>& names) {
    std::map<std::string, std::string> first;  // lower-cased -> first spelling
    for (const auto& [name, pos] : names) {
      if (!pass_.symbols.count(name)) continue;  // I, dimensions
      std::string key = name;
      for (char& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      auto [it, fresh] = first.emplace(key, name);
      if (fresh) continue;
      if (!unknowns_.index.count(it->second) && !unknowns_.index.count(name)) continue;  // both declared: meant
      warn(it->second + " and " + name + " are two different symbols (they differ only in case)", pos,
           static_cast<int>(name.size()));
    }
  }
};

}  // namespace

namespace {
TypedProgram typecheck_for(Context& cx, const Ast& ast, const Declarations& decl_list, const TypecheckOptions& opt);

// The messages say why the expression must be a scalar as the caller words it.
std::string with_reason(std::string message, const std::string& reason) {
  for (std::size_t at = message.find(kScalarReason); at != std::string::npos;
       at = message.find(kScalarReason, at + reason.size()))
    message.replace(at, std::string_view(kScalarReason).size(), reason);
  return message;
}
}  // namespace

TypedProgram typecheck(Context& cx, const Ast& ast, const Declarations& decl_list, const TypecheckOptions& opt) {
  if (opt.scalar_reason == kScalarReason) return typecheck_for(cx, ast, decl_list, opt);
  try {
    TypedProgram p = typecheck_for(cx, ast, decl_list, opt);
    for (InferenceWarning& w : p.warnings) w.message = with_reason(w.message, opt.scalar_reason);
    return p;
  } catch (const Error& e) {
    throw Error(e.kind(), with_reason(e.what(), opt.scalar_reason), e.column(), e.length());
  }
}

namespace {
TypedProgram typecheck_for(Context& cx, const Ast& ast, const Declarations& decl_list, const TypecheckOptions& opt) {
  std::map<std::string, const Declaration*> decls;
  std::set<std::string> dim_names;
  for (const auto& d : decl_list) {
    if (is_function_name(d.name) || d.name == "I")
      throw Error(ErrorKind::Name, "cannot declare '" + d.name + "': it is a built-in name");
    if (!decls.emplace(d.name, &d).second)
      throw Error(ErrorKind::Name, "'" + d.name + "' is declared twice");
    for (const Dim* dm : {&d.rows, &d.cols})
      for (const auto& f : dm->factors()) dim_names.insert(f);
  }
  std::vector<Undeclared> names;
  std::set<std::string> seen, dim_args;
  collect_names(ast, names, seen, dim_args);
  dim_names.insert(dim_args.begin(), dim_args.end());
  for (const auto& d : decl_list)
    if (dim_names.count(d.name))
      throw Error(ErrorKind::Name, "'" + d.name + "' names both a symbol and a dimension");

  std::vector<Undeclared> undeclared;
  for (const auto& u : names)
    if (!decls.count(u.name) && u.name != "I" && !dim_names.count(u.name) && !is_function_name(u.name))
      undeclared.push_back(u);
  for (const auto& w : opt.extra_names)
    if (!seen.count(w) && !decls.count(w))
      throw Error(ErrorKind::Name, "'" + w + "' does not occur in the expression");

  Unknowns unknowns;
  unknowns.list = undeclared;
  for (std::size_t i = 0; i < undeclared.size(); ++i) unknowns.index[undeclared[i].name] = i;
  prepare(ast, unknowns);
  Search search(decls, unknowns, dim_names, opt.source, ast, opt.want_scalar);
  Reading given(undeclared.size());  // kinds known from the values
  for (const auto& [name, word] : opt.kinds) {
    auto it = unknowns.index.find(name);
    if (it == unknowns.index.end()) continue;
    if (word == "scalar") given[it->second] = Kind::Scalar;
    if (word == "vector") given[it->second] = Kind::Vector;
    if (word == "matrix") given[it->second] = Kind::Matrix;
  }
  SearchOutcome found = search_all(search, ast, unknowns, given, opt.want_scalar);
  if (!found.best) throw no_reading(found, unknowns);
  if (found.tie) throw ambiguity(search, *found.best, *found.tie, unknowns, dim_names, names, decl_list);
  std::unique_ptr<Pass> best = search.replay(found.best->kinds);
  const std::vector<Kind> best_kinds = found.best->kinds;
  const std::size_t u = undeclared.size();

  // Name the free dimensions, in order of first appearance.
  std::set<std::string> taken = taken_names(dim_names, names, decl_list);
  DimNamer namer(*best, taken);
  for (const auto& n : names) namer.name_symbol(n.name);

  // vec and kron of symbols whose sizes were unknown when they were met left
  // placeholders (kron(a,b)'*c: c has |a|*|b| entries). Pass again with the
  // named shapes of the symbols not tied to a placeholder fixed, so that the
  // products are known and the placeholders unify with them.
  std::vector<Declaration> fixed;  // these outlive the second pass, which refers to them
  std::map<std::string, const Declaration*> decls2 = decls;
  std::set<std::string> dim_names2 = dim_names;
  Unknowns still_free;
  Reading still_free_kinds;
  if (!best->deferred.empty()) {
    std::set<int> placeholders;
    for (int d : best->deferred) placeholders.insert(best->dims.find(d));
    fixed.reserve(u);
    for (std::size_t i = 0; i < u; ++i) {
      const std::string& n = undeclared[i].name;
      TShape sh = best->symbols.at(n);
      if (placeholders.count(best->dims.find(sh.r)) || placeholders.count(best->dims.find(sh.c))) {
        still_free.index[n] = still_free.list.size();
        still_free.list.push_back(undeclared[i]);
        still_free_kinds.push_back(best_kinds[i]);
        continue;
      }
      Declaration d;
      d.name = n;
      d.kind = best_kinds[i] == Kind::Scalar   ? Declaration::Kind::Scalar
               : best_kinds[i] == Kind::Vector ? Declaration::Kind::Vector
                                               : Declaration::Kind::Matrix;
      d.rows = namer.dim(sh.r);
      d.cols = namer.dim(sh.c);
      fixed.push_back(d);
    }
    for (const auto& d : fixed) {
      decls2[d.name] = &d;
      for (const Dim* dm : {&d.rows, &d.cols})
        for (const auto& f : dm->factors()) dim_names2.insert(f);
    }
    prepare(ast, still_free);
    auto second = std::make_unique<Pass>(decls2, still_free, still_free_kinds, dim_names2, opt.source,
                                         /*record=*/true);
    try {
      second->root = second->run_root(ast, opt.want_scalar);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Shape) throw;
      // tr(kron(A, X)): square needs m*n = k*p, which has no one solution.
      throw Error(ErrorKind::Shape,
                  std::string(e.what()) +
                      " (the sizes of kron, vec and reshape of undeclared symbols are products that inference "
                      "cannot split: declare the shapes, e.g. --decl \"A: matrix(n,n); X: matrix(m,m)\")",
                  e.column(), e.length());
    }
    best = std::move(second);
    namer = DimNamer(*best, taken_names(dim_names2, names, decl_list));  // not the names the fixed ones hold
    for (const auto& n : names) namer.name_symbol(n.name);
  }
  TypedProgram out;
  // An identity whose size nothing fixes.
  std::vector<std::pair<const Ast*, TShape>> identities;  // checked in source order
  for (auto& [node, s] : best->shapes)
    if (node->kind == Ast::Kind::Name && node->text == "I") identities.push_back({node, s});
  std::sort(identities.begin(), identities.end(), [](const auto& x, const auto& y) { return x.first->pos < y.first->pos; });
  for (auto& [node, s] : identities) {
    if (!namer.named(s.r))
      throw Error(ErrorKind::Inference, "cannot infer the size of I here; write eye(n)", node->pos + 1);
  }

  Builder b(cx, *best, namer, out.symbols);
  // Symbols first, in order of appearance, then every declared symbol.
  auto make_symbol = [&](const std::string& n) {
    TShape s = best->symbols.at(n);
    auto d = decls.find(n);
    bool symmetric = d != decls.end() && d->second->kind == Declaration::Kind::Symmetric;
    out.symbols[n] = symbol(cx, n, b.shape(s), symmetric);
    out.order.push_back(n);
  };
  for (const auto& n : names)
    if (best->symbols.count(n.name)) make_symbol(n.name);
  for (const auto& d : decl_list)
    if (!out.symbols.count(d.name)) {
      out.symbols[d.name] = symbol(cx, d.name, {d.rows, d.cols}, d.kind == Declaration::Kind::Symmetric);
      out.order.push_back(d.name);
    }
  out.expr = b.build(ast);
  std::set<std::string> used;
  for (const auto& [name, e] : out.symbols)
    for (const Dim* dm : {&e->shape.rows, &e->shape.cols})
      for (const auto& f : dm->factors()) used.insert(f);
  for (const auto& f : dim_args) used.insert(f);
  out.dims.assign(used.begin(), used.end());
  out.warnings = Warnings(*best, namer, search, unknowns, best_kinds, given, opt.source).collect(ast, names);
  return out;
}
}  // namespace

TypedProgram compile(Context& cx, const std::string& expr_text, const std::string& decl_text,
                     const TypecheckOptions& opt) {
  Program p = parse_program(expr_text);
  if (!decl_text.empty()) {
    Declarations extra = parse_declarations(decl_text);
    p.decls.insert(p.decls.end(), extra.begin(), extra.end());
  }
  TypecheckOptions with_source = opt;
  if (with_source.source.empty()) with_source.source = expr_text;
  return typecheck(cx, *p.expr, p.decls, with_source);
}

}  // namespace matcalc
