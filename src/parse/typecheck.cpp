#include "parse/typecheck.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "ir/builders.hpp"
#include "ir/error.hpp"
#include "parse/suggest.hpp"

namespace matcalc {

namespace {

enum class Kind { Scalar, Vector, Matrix };

// Union-find over dimensions; a class is either known (a Dim) or free.
class Dims {
 public:
  int fresh(bool not_one = false) {
    parent_.push_back(static_cast<int>(parent_.size()));
    known_.push_back(std::nullopt);
    not_one_.push_back(not_one);
    return parent_.back();
  }
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

int preference(const std::string& name, Kind k) {
  if (is_upper(name)) return k == Kind::Matrix ? 2 : (k == Kind::Vector ? 1 : 0);
  return k == Kind::Vector ? 2 : (k == Kind::Scalar ? 1 : 0);
}

const char* kind_word(Kind k) {
  return k == Kind::Scalar ? "a scalar" : (k == Kind::Vector ? "a vector" : "a matrix");
}

// One inference pass under a fixed kind for every undeclared symbol.
class Pass {
 public:
  Pass(const std::map<std::string, const Declaration*>& decls,
       const std::map<std::string, Kind>& kinds, const std::set<std::string>& dim_names)
      : decls_(decls), kinds_(kinds), dim_names_(dim_names) {}

  Dims dims;
  TShape root{0, 0};
  std::unordered_map<const Ast*, TShape> shapes;
  std::map<std::string, TShape> symbols;

  TShape run(const Ast& a) {
    TShape s = visit(a);
    shapes[&a] = s;
    return s;
  }

  std::string str(TShape s) {
    if (is_scalar(s)) return "scalar";
    if (dims.is_one(s.c)) return "vector(" + dims.str(s.r) + ")";
    return dims.str(s.r) + " x " + dims.str(s.c);
  }
  bool is_scalar(TShape s) { return dims.is_one(s.r) && dims.is_one(s.c); }
  // "vector(n)" when the dimensions are known, else "a vector".
  std::string kind_of(TShape s) {
    if (dims.value(s.r) && dims.value(s.c)) return str(s);
    if (dims.is_one(s.c)) return "a vector";
    if (dims.is_one(s.r)) return "a row vector";
    return "a matrix";
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
  const std::map<std::string, Kind>& kinds_;
  const std::set<std::string>& dim_names_;
  std::map<Dim, int> dim_ids_;

  TShape scalar() { return {dim_of(Dim::literal(1)), dim_of(Dim::literal(1))}; }

  void unify_shapes(TShape a, TShape b, const std::string& op, const Ast& at) {
    std::string sa = str(a), sb = str(b);
    if (!dims.unify(a.r, b.r) || !dims.unify(a.c, b.c))
      fail(ErrorKind::Shape, "shape mismatch in '" + op + "': " + sa + " and " + sb, at);
  }

  void need_square(TShape s, const std::string& fn, const Ast& at) {
    std::string ss = str(s);
    if (!dims.unify(s.r, s.c)) fail(ErrorKind::Shape, fn + " needs a square matrix, got " + ss, at);
  }

  void need_scalar(TShape s, const std::string& what, const Ast& at) {
    if (!is_scalar(s)) fail(ErrorKind::Shape, what + " must be a scalar, got " + str(s), at);
  }

  TShape visit(const Ast& a) {
    switch (a.kind) {
      case Ast::Kind::Number:
        return scalar();
      case Ast::Kind::Name:
        return name(a);
      case Ast::Kind::Neg:
        return run(*a.kids[0]);
      case Ast::Kind::Transpose: {
        TShape s = run(*a.kids[0]);
        return {s.c, s.r};
      }
      case Ast::Kind::Power:
        return power(a);
      case Ast::Kind::Chain:
        return chain(a);
      case Ast::Kind::Call:
        return call(a);
    }
    return scalar();
  }

  TShape name(const Ast& a) {
    const std::string& n = a.text;
    if (auto it = symbols.find(n); it != symbols.end()) return it->second;
    if (auto d = decls_.find(n); d != decls_.end()) {
      TShape s{dim_of(d->second->rows), dim_of(d->second->cols)};
      symbols[n] = s;
      return s;
    }
    if (n == "I") {
      int d = dims.fresh();
      return {d, d};
    }
    if (dim_names_.count(n))
      fail(ErrorKind::Name, "'" + n + "' is a dimension, not a value", a);
    if (is_function_name(n)) fail(ErrorKind::Syntax, "function '" + n + "' needs arguments: " + n + "(...)", a);
    Kind k = kinds_.at(n);
    TShape s = k == Kind::Scalar ? scalar()
               : k == Kind::Vector ? TShape{dims.fresh(true), dim_of(Dim::literal(1))}
                                   : TShape{dims.fresh(true), dims.fresh(true)};
    symbols[n] = s;
    return s;
  }

  static bool integer_exponent(const Ast& e) {
    const Ast* p = &e;
    if (p->kind == Ast::Kind::Neg) p = p->kids[0].get();
    return p->kind == Ast::Kind::Number && p->integer_literal;
  }

  TShape power(const Ast& a) {
    TShape b = run(*a.kids[0]);
    TShape e = run(*a.kids[1]);
    need_scalar(e, "the exponent of '" + a.text + "'", *a.kids[1]);
    if (a.text == ".^" || is_scalar(b)) return b;
    if (!integer_exponent(*a.kids[1]))
      fail(ErrorKind::Shape,
           "'^' of a " + str(b) + " matrix needs an integer literal exponent (use '.^' for elementwise powers)",
           a);
    need_square(b, "'^'", a);
    return b;
  }

  TShape chain(const Ast& a) {
    TShape acc = run(*a.kids[0]);
    for (std::size_t i = 1; i < a.kids.size(); ++i) {
      TShape r = run(*a.kids[i]);
      const std::string& op = a.ops[i];
      const Ast& at = *a.kids[i];
      if (op == "+" || op == "-") {
        unify_shapes(acc, r, op, at);
      } else if (op == ":") {
        unify_shapes(acc, r, ":", at);
        acc = scalar();
      } else if (op == "*") {
        if (is_scalar(acc)) {
          acc = r;
        } else if (!is_scalar(r)) {
          std::string sa = str(acc), sb = str(r);
          if (!dims.unify(acc.c, r.r))
            fail(ErrorKind::Shape, "shape mismatch in '*': " + sa + " times " + sb, at);
          acc = {acc.r, r.c};
        }
      } else if (op == "/") {
        need_scalar(r, "the divisor of '/'", at);
      } else {  // .* ./ : a scalar operand scales entrywise, as in MATLAB (2.*x)
        if (is_scalar(acc)) acc = r;
        else if (!is_scalar(r)) unify_shapes(acc, r, op, at);
      }
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
      if (decls_.count(a.text) || kinds_.count(a.text))
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
    int id = dims.fresh();
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
  TShape call(const Ast& a) {
    const std::string& f = a.text;
    const std::optional<Op> op = call_op(f);
    if (!op) {
      if (decls_.count(f) || kinds_.count(f))
        fail(ErrorKind::Syntax, "'" + f + "' is a symbol, not a function (write '*' for a product)", a);
      fail(ErrorKind::Name, unknown_function_message(f), a);
    }
    const ShapeRule rule = op_shape_rule(*op);
    if (rule == ShapeRule::Given) return leaf_call(*op, a);
    if (rule == ShapeRule::Special) return special_call(*op, a);
    const int arity = op_arity(*op);
    if (arity < 1) throw std::logic_error("typecheck: no call syntax for " + std::string(op_name(*op)));
    nargs(a, static_cast<std::size_t>(arity), static_cast<std::size_t>(arity));
    std::vector<TShape> args;
    for (const auto& k : a.kids) args.push_back(run(*k));
    const TShape x = args[0];
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
    if (op == Op::Ones || op == Op::Zeros) {
      nargs(a, 1, 2);
      int r = dim_arg(*a.kids[0]);
      int c = a.kids.size() == 2 ? dim_arg(*a.kids[1]) : dim_of(Dim::literal(1));
      return {r, c};
    }
    throw std::logic_error("typecheck: no call syntax for the leaf " + std::string(op_name(op)));
  }

  // The operators whose ShapeRule is Special: a rule of their own each.
  TShape special_call(Op op, const Ast& a) {
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
      TShape x = run(*a.kids[0]);
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

// Builds IR from the AST once every shape is known.
class Builder {
 public:
  Builder(Context& cx, Pass& pass, std::map<int, Dim>& names, std::map<std::string, Expr>& syms)
      : cx_(cx), pass_(pass), names_(names), syms_(syms) {}

  Dim dim(int id) {
    int r = pass_.dims.find(id);
    if (auto v = pass_.dims.value(r)) return *v;
    auto it = names_.find(r);
    if (it == names_.end()) throw Error(ErrorKind::Inference, "internal: unnamed dimension");
    return it->second;
  }
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
  std::map<int, Dim>& names_;
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
          Expr r = build(*a.kids[i]);
          const std::string& op = a.ops[i];
          if (op == "+" || op == "-") {  // collect the whole sum, then add once
            if (terms.empty()) terms.push_back(acc);
            terms.push_back(op == "+" ? r : neg(r));
            continue;
          }
          try {
            if (op == ":") acc = frobenius(acc, r);
            else if (op == "*") acc = mul(acc, r);
            else if (op == "/") acc = div(acc, r);
            else if (op == ".*") acc = hadamard(acc, r);
            else acc = ediv(acc, r);
          } catch (const Error& e) {
            if (e.column() > 0) throw;
            throw Error(e.kind(), e.what(), a.kids[i]->pos + 1, a.kids[i]->len);
          }
        }
        return terms.empty() ? acc : add(std::move(terms));
      }
      case Ast::Kind::Call:
        return call(a);
    }
    return nullptr;
  }

  // A call: the leaves and reshape take their sizes from the inferred
  // shape; every other operator is built by apply().
  Expr call(const Ast& a) {
    const Op op = *call_op(a.text);  // Pass::call checked the name
    TShape s = pass_.shapes.at(&a);
    if (op == Op::Identity) return identity(cx_, dim(s.r));
    if (op == Op::Ones) return ones(cx_, shape(s));
    if (op == Op::Zeros) return zeros(cx_, shape(s));
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
  // Iterative over chains; recursion depth is bounded by the parser's nesting limit.
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

std::size_t count_nodes(const Ast& root) {
  std::size_t n = 0;
  std::vector<const Ast*> stack{&root};
  while (!stack.empty()) {
    const Ast* a = stack.back();
    stack.pop_back();
    ++n;
    for (const auto& k : a->kids) stack.push_back(k.get());
  }
  return n;
}

std::string fresh_dim_name(std::set<std::string>& taken) {
  static const char* pool[] = {"n", "k", "m", "p", "q", "r", "d", "l", "t", "u", "v"};
  for (const char* p : pool)
    if (taken.insert(p).second) return p;
  for (int i = 1;; ++i) {
    std::string s = "n" + std::to_string(i);
    if (taken.insert(s).second) return s;
  }
}

}  // namespace

TypedProgram typecheck(Context& cx, const Ast& ast, const Declarations& decl_list,
                       const TypecheckOptions& opt) {
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

  // Enumerate kind assignments best-first by name preference.
  const std::size_t u = undeclared.size();
  constexpr std::size_t kMaxSearch = 8;
  std::vector<std::vector<Kind>> candidates;
  const Kind all[] = {Kind::Scalar, Kind::Vector, Kind::Matrix};
  auto preferred = [&](const std::string& n) {
    return is_upper(n) ? std::vector<Kind>{Kind::Matrix, Kind::Vector, Kind::Scalar}
                       : std::vector<Kind>{Kind::Vector, Kind::Scalar, Kind::Matrix};
  };
  if (u <= kMaxSearch) {
    std::size_t total = 1;
    for (std::size_t i = 0; i < u; ++i) total *= 3;
    for (std::size_t code = 0; code < total; ++code) {
      std::vector<Kind> ks(u);
      std::size_t c = code;
      for (std::size_t i = 0; i < u; ++i, c /= 3) ks[i] = all[c % 3];
      candidates.push_back(ks);
    }
    auto score = [&](const std::vector<Kind>& ks) {
      int s = 0;
      for (std::size_t i = 0; i < u; ++i) s += preference(undeclared[i].name, ks[i]);
      return s;
    };
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&](const auto& a, const auto& b) { return score(a) > score(b); });
  } else {
    std::vector<Kind> ks;
    for (const auto& x : undeclared) ks.push_back(preferred(x.name)[0]);
    candidates.push_back(ks);
  }

  // Each candidate is a pass over the whole tree: bound the total work, so
  // that a long expression whose candidates all fail is not a hang.
  constexpr std::size_t kMaxInferenceWork = 20'000'000;
  const std::size_t pass_cost = count_nodes(ast);
  std::size_t work = 0;
  std::optional<Error> first_error;
  std::unique_ptr<Pass> best;
  std::vector<Kind> best_kinds;
  int best_score = -1;
  for (const auto& ks : candidates) {
    int sc = 0;
    for (std::size_t i = 0; i < u; ++i) sc += preference(undeclared[i].name, ks[i]);
    if (best && sc < best_score) break;
    if ((work += pass_cost) > kMaxInferenceWork && work > pass_cost)
      throw Error(ErrorKind::Limit, "cannot infer the kinds of " + std::to_string(u) +
                                        " undeclared symbols of an expression this long within the search limit; "
                                        "declare them with --decl");
    std::map<std::string, Kind> kinds;
    for (std::size_t i = 0; i < u; ++i) kinds[undeclared[i].name] = ks[i];
    auto pass = std::make_unique<Pass>(decls, kinds, dim_names);
    try {
      pass->root = pass->run(ast);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Shape) throw;  // syntax-level errors do not depend on kinds
      if (!first_error) first_error = e;
      continue;
    }
    if (best) {
      std::string which;
      for (std::size_t i = 0; i < u; ++i)
        if (ks[i] != best_kinds[i])
          which += (which.empty() ? "" : ", ") + undeclared[i].name + " (" + kind_word(best_kinds[i]) +
                   " or " + kind_word(ks[i]) + ")";
      throw Error(ErrorKind::Inference,
                  "cannot tell the kind of " + which + " from its use; declare it with --decl, e.g. '" +
                      undeclared[0].name + ": scalar'");
    }
    best = std::move(pass);
    best_kinds = ks;
    best_score = sc;
  }
  if (!best) {
    if (first_error) throw *first_error;
    throw Error(ErrorKind::Inference, "cannot infer the kinds of the symbols; declare them with --decl");
  }
  // The kinds are chosen by use and names alone; a non-scalar result is then
  // an error, never a reason to make the symbols scalars.
  if (opt.want_scalar && !best->is_scalar(best->root))
    throw Error(ErrorKind::Shape, "the expression is " + best->kind_of(best->root) +
                                      ", not a scalar: a gradient needs a scalar function");

  // Name the free dimensions, in order of first appearance.
  std::set<std::string> taken = dim_names;
  for (const auto& n : names) taken.insert(n.name);
  for (const auto& d : decl_list) taken.insert(d.name);
  std::map<int, Dim> dim_names_of;
  auto name_dims = [&](Pass& pass) {
    dim_names_of.clear();
    auto name_dim = [&](int id) {
      int r = pass.dims.find(id);
      if (pass.dims.value(r) || dim_names_of.count(r)) return;
      dim_names_of[r] = Dim::symbol(fresh_dim_name(taken));
    };
    for (const auto& n : names)
      if (auto it = pass.symbols.find(n.name); it != pass.symbols.end()) {
        name_dim(it->second.r);
        name_dim(it->second.c);
      }
  };
  name_dims(*best);

  // vec and kron of symbols whose sizes were unknown when they were met left
  // placeholders (kron(a,b)'*c: c has |a|*|b| entries). Pass again with the
  // named shapes of the symbols not tied to a placeholder fixed, so that the
  // products are known and the placeholders unify with them.
  std::vector<Declaration> fixed;  // these outlive the second pass, which refers to them
  std::map<std::string, const Declaration*> decls2 = decls;
  std::set<std::string> dim_names2 = dim_names;
  std::map<std::string, Kind> still_free;
  if (!best->deferred.empty()) {
    std::set<int> placeholders;
    for (int d : best->deferred) placeholders.insert(best->dims.find(d));
    auto dim_of_class = [&](int id) {
      int r = best->dims.find(id);
      if (auto v = best->dims.value(r)) return *v;
      return dim_names_of.at(r);
    };
    fixed.reserve(u);
    for (std::size_t i = 0; i < u; ++i) {
      const std::string& n = undeclared[i].name;
      TShape sh = best->symbols.at(n);
      if (placeholders.count(best->dims.find(sh.r)) || placeholders.count(best->dims.find(sh.c))) {
        still_free[n] = best_kinds[i];
        continue;
      }
      Declaration d;
      d.name = n;
      d.kind = best_kinds[i] == Kind::Scalar   ? Declaration::Kind::Scalar
               : best_kinds[i] == Kind::Vector ? Declaration::Kind::Vector
                                               : Declaration::Kind::Matrix;
      d.rows = dim_of_class(sh.r);
      d.cols = dim_of_class(sh.c);
      fixed.push_back(d);
    }
    for (const auto& d : fixed) {
      decls2[d.name] = &d;
      for (const Dim* dm : {&d.rows, &d.cols})
        for (const auto& f : dm->factors()) dim_names2.insert(f);
    }
    auto second = std::make_unique<Pass>(decls2, still_free, dim_names2);
    second->root = second->run(ast);
    best = std::move(second);
    name_dims(*best);
  }
  TypedProgram out;
  // An identity whose size nothing fixes.
  std::vector<std::pair<const Ast*, TShape>> identities;  // checked in source order
  for (auto& [node, s] : best->shapes)
    if (node->kind == Ast::Kind::Name && node->text == "I") identities.push_back({node, s});
  std::sort(identities.begin(), identities.end(), [](const auto& x, const auto& y) { return x.first->pos < y.first->pos; });
  for (auto& [node, s] : identities) {
    int r = best->dims.find(s.r);
    if (!best->dims.value(r) && !dim_names_of.count(r))
      throw Error(ErrorKind::Inference, "cannot infer the size of I here; write eye(n)", node->pos + 1);
  }

  Builder b(cx, *best, dim_names_of, out.symbols);
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
  return out;
}

TypedProgram compile(Context& cx, const std::string& expr_text, const std::string& decl_text,
                     const TypecheckOptions& opt) {
  Program p = parse_program(expr_text);
  if (!decl_text.empty()) {
    Declarations extra = parse_declarations(decl_text);
    p.decls.insert(p.decls.end(), extra.begin(), extra.end());
  }
  return typecheck(cx, *p.expr, p.decls, opt);
}

}  // namespace matcalc
