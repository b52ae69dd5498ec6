// Checked builders: the only way to make nodes. Each checks shapes (throwing
// a Shape error that names the operator and both shapes) and returns the
// node in normal form:
//   - sums are flat, free of zeros, like terms collected (a + a = 2*a,
//     a*X + b*X = (a+b)*X), terms in canonical order;
//   - products are flat: a numeric coefficient, then the other scalar
//     factors in canonical order (equal bases merged into powers), then the
//     matrix chain in order, identities dropped;
//   - transposes are pushed to the leaves ((A*B)' = B'*A', (A+B)' = A'+B',
//     A'' = A, S' = S for symmetric S, f(A)' = f(A'));
//   - numeric constants are folded, exactly (fold_product);
//   - nothing that carries a domain condition is dropped, cancelled or
//     merged away (ir/domain.hpp: 0*log(a) and a^0.5*a^0.5 stay).
// A node in normal form is a fixed point: rebuilt from its own arguments
// (rebuild(e, e->kids)) it is the same node (tests/prop, `fixed-point`).
// The builders live in builders.cpp, builders_sum.cpp, builders_product.cpp
// and builders_elementwise.cpp (builders_internal.hpp says which holds what).
// Everything else (log(det(X)) = logdet(X), inv(X)*X = I where X is invertible, ...) is a named
// rule in simplify/rules.cpp.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/node.hpp"

namespace matcalc {

// Leaves
Expr constant(Context& cx, double v);
Expr symbol(Context& cx, const std::string& name, Shape shape, bool symmetric = false);
Expr identity(Context& cx, Dim n);
// The commutation matrix K_{m,n} (mn x mn): K*vec(X) = vec(X') for an m x n X.
Expr commutation(Context& cx, const Dim& m, const Dim& n);
Expr zeros(Context& cx, Shape s);
Expr ones(Context& cx, Shape s);
Expr zero_like(Expr e);

// Arithmetic
Expr add(std::vector<Expr> terms);
Expr add(Expr a, Expr b);
Expr sub(Expr a, Expr b);
Expr neg(Expr a);
Expr mul(std::vector<Expr> factors);
Expr mul(Expr a, Expr b);
Expr scale(double c, Expr a);
Expr div(Expr a, Expr c);             // c scalar
Expr pow(Expr a, Expr p);             // both scalar
Expr pow(Expr a, double p);
inline constexpr long long kMaxMatrixPower = 1'000'000;
Expr matpow(Expr x, long long k);     // square x, integer |k| <= kMaxMatrixPower (k < 0 via inv)
Expr hadamard(Expr a, Expr b);
Expr hadamard(std::vector<Expr> factors);
Expr ediv(Expr a, Expr b);
Expr epow(Expr a, Expr p);            // p scalar
Expr transpose(Expr a);

// Functions (argument shape rules are checked here)
Expr trace(Expr a);
Expr det(Expr a);
Expr logdet(Expr a);
Expr inv(Expr a);
Expr diag(Expr a);                    // vector -> matrix, square matrix -> vector
Expr sum(Expr a);
Expr norm2(Expr a);
Expr norm1(Expr a);
Expr vec(Expr a);
Expr reshape(Expr a, Shape s);
Expr kron(Expr a, Expr b);
Expr sym(Expr a);
Expr logsumexp(Expr a);
Expr softmax(Expr a);
Expr elementwise(Op f, Expr a);       // exp, log, ..., relu
Expr apply(Op op, std::vector<Expr> kids, int power = 0);  // generic, by operator
Expr rebuild(Expr e, std::vector<Expr> kids);  // e's operator over new arguments
// e with each node that is a key of `with` replaced by its value, rebuilt
// bottom-up through the builders.
Expr substitute(Expr e, const std::unordered_map<Expr, Expr>& with);

// Derived forms
Expr frobenius(Expr a, Expr b);       // A : B = tr(A'*B), same shapes
// T with vec(kron(A, B)) = T*kron(vec(A), vec(B)) for A of shape a (p x q) and
// B of shape b (m x n): kron(kron(eye(q), commutation(n,p)), eye(m))
// (Magnus and Neudecker, Theorem 3.10).
Expr kron_rearrangement(Context& cx, const Shape& a, const Shape& b);

// Splits a term into its numeric coefficient and the rest (c*rest == e).
std::pair<double, Expr> split_coefficient(Expr e);

}  // namespace matcalc
