#include "explain/identities.hpp"

#include <stdexcept>
#include <string>

namespace matcalc {

const std::vector<Identity>& rearrangement_identities() {
  // A : B is the Frobenius inner product tr(A'*B) = sum(A .* B).
  // tests/rules checks both sides of every row on random inputs.
  static const std::vector<Identity> rows = {
      {"linearity", "A*(X + Y)*B", "A*X*B + A*Y*B", "A: matrix(n,k); X: matrix(k,m); Y: matrix(k,m); B: matrix(m,p)",
       "likewise tr, ', .*, sum, vec and diag distribute over sums", ""},
      {"trace-linearity", "tr(A + B)", "tr(A) + tr(B)", "A: matrix(n,n); B: matrix(n,n)", "", "(15)"},
      {"trace-cyclic", "tr(A*B)", "tr(B*A)", "A: matrix(n,m); B: matrix(m,n)", "", "(16)"},
      {"trace-as-frobenius", "tr(A*X*B)", "A'*B' : X", "A: matrix(n,p); X: matrix(p,q); B: matrix(q,n)",
       "tr(A*X*B) = tr(B*A*X) = (B*A)' : X", "(16)"},
      {"trace-of-identity-product", "tr(X)", "eye(n) : X", "X: matrix(n,n)", "", ""},
      {"frobenius-product", "A : B*X*C", "B'*A*C' : X",
       "A: matrix(n,m); B: matrix(n,p); X: matrix(p,q); C: matrix(q,m)", "A : B*C = B'*A : C = A*C' : B", ""},
      {"frobenius-scalar-factor", "A : x*B", "(A : B) : x", "A: matrix(n,m); B: matrix(n,m); x: scalar", "x a scalar",
       ""},
      {"frobenius-transpose", "A : X'", "A' : X", "A: matrix(m,n); X: matrix(n,m)", "", ""},
      {"frobenius-commutative", "A : B", "B : A", "A: matrix(n,m); B: matrix(n,m)", "", ""},
      {"frobenius-hadamard", "A : B .* X", "A .* B : X", "A: matrix(n,m); B: matrix(n,m); X: matrix(n,m)", "", ""},
      {"frobenius-quotient", "A : X ./ B", "A ./ B : X", "A: matrix(n,m); B: matrix(n,m); X: matrix(n,m)",
       "B has no zero entry", ""},
      {"frobenius-sum", "a : sum(X)", "a*ones(n,m) : X", "a: scalar; X: matrix(n,m)", "", ""},
      {"frobenius-diag-of-matrix", "a : diag(X)", "diag(a) : X", "a: vector(n); X: matrix(n,n)", "", ""},
      {"frobenius-diag-of-vector", "A : diag(x)", "diag(A) : x", "A: matrix(n,n); x: vector(n)", "", ""},
      {"frobenius-vec", "a : vec(X)", "reshape(a, 2, 3) : X", "a: vector(6); X: matrix(2,3)",
       "reshape back to the shape of X", ""},
      {"frobenius-reshape", "A : reshape(X, 3, 2)", "reshape(A, 2, 3) : X", "A: matrix(3,2); X: matrix(2,3)", "", ""},
      {"frobenius-kron-left", "c : kron(x, b)", "reshape(c, 3, 2)'*b : x", "c: vector(6); x: vector(2); b: vector(3)",
       "x, b column vectors; kron(x, b) = vec(b*x')", ""},
      {"frobenius-kron-right", "c : kron(a, x)", "reshape(c, 3, 2)*a : x", "c: vector(6); a: vector(2); x: vector(3)",
       "a, x column vectors; kron(a, x) = vec(x*a')", ""},
      {"frobenius-sym", "A : sym(X)", "sym(A) : X", "A: matrix(n,n); X: matrix(n,n)", "", ""},
      {"symmetric-differential", "A : S", "sym(A) : S", "A: matrix(n,n); S: symmetric(n)",
       "S symmetric (so is dS when S is a symmetric variable)", ""},
      {"collect-terms", "A : X + B : X", "(A + B) : X", "A: matrix(n,m); B: matrix(n,m); X: matrix(n,m)", "", ""},
      // The vec identities of the second order: the matrix of a differential.
      {"vec-of-product", "vec(A*X*B)", "kron(B', A)*vec(X)", "A: matrix(n,p); X: matrix(p,q); B: matrix(q,m)",
       "vec stacks the columns", "(520)"},
      {"vec-of-transpose", "vec(X')", "commutation(n,m)*vec(X)", "X: matrix(n,m)",
       "commutation(n,m) is the mn x mn permutation that transposes", ""},
      {"vec-of-hadamard", "vec(A .* X)", "diag(vec(A))*vec(X)", "A: matrix(n,m); X: matrix(n,m)",
       "likewise vec(X ./ A) = diag(vec(ones(n,m) ./ A))*vec(X)", ""},
      {"trace-as-vec", "tr(A'*X)", "vec(A)'*vec(X)", "A: matrix(n,m); X: matrix(n,m)", "", "(521)"},
      {"vec-of-sym", "vec(sym(X))", "(eye(n*n) + commutation(n,n))*vec(X)/2", "X: matrix(n,n)",
       "for a symmetric variable, dX = sym(dX)", ""},
  };
  return rows;
}

const Identity& identity_named(std::string_view name) {
  for (const Identity& r : rearrangement_identities())
    if (name == r.name) return r;
  throw std::logic_error("no identity named " + std::string(name));
}

}  // namespace matcalc
