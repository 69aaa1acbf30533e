"""About the maths: the model, the theorems the explorer illustrates, and their sources.

Content follows /work/shared/math/README.md (§A.2, §A.3–A.4, §D.1–D.2, §D.4); statements marked
UNCONFIRMED there are marked so here as well.
"""

from __future__ import annotations

import logging

import streamlit as st

from ui.session import leave_legacy_pages_mode

log = logging.getLogger("adx.about")
leave_legacy_pages_mode()  # a first request on /explorer must still go through app.py

ARXIV = {
    "2412.02682": "Rodríguez Abella, Silvestre, Tabuada — The asymptotic behavior of attention in "
    "transformers (ICML 2025: “Consensus is all you get”)",
    "2312.10794": "Geshkovski, Letrouit, Polyanskiy, Rigollet — A mathematical perspective on "
    "Transformers (Bull. AMS 2025)",
    "2305.05465": "Geshkovski, Letrouit, Polyanskiy, Rigollet — The emergence of clusters in "
    "self-attention dynamics (NeurIPS 2023)",
    "2501.18322": "Castin, Ablin, Carrillo, Peyré — A unified perspective on the dynamics of deep "
    "Transformers",
    "2411.04990": "Karagodin, Polyanskiy, Rigollet — Clustering in causal attention masking",
    "2410.06833": "Geshkovski, Koubbi, Polyanskiy, Rigollet — Dynamic metastability in the "
    "self-attention model",
}


def arxiv(aid: str) -> str:
    return f"[arXiv {aid}](https://arxiv.org/abs/{aid})"


def main() -> None:
    st.title("About the maths")
    st.markdown(
        "Read layer by layer, a transformer moves each token a little towards a weighted mean of "
        "the others (attention), adds it to itself (the residual connection) and normalises the "
        "result (layer norm). Letting the layer index become a continuous time *t* turns the "
        "stack into a system of interacting particles on a sphere — or on the ellipsoid that "
        "layer normalisation defines. The explorer integrates exactly this system."
    )

    # ------------------------------------------------------------------ the model (§A.2)
    st.header("The model", divider="gray")
    st.markdown(
        f"Tokens $x_1,\\dots,x_n$ live on $\\mathcal M=\\{{x:\\ x^\\top P x = 1\\}}$ ($P=I$: the unit "
        f"sphere $\\mathbb S^{{d-1}}$). Head $k$ has a key–query product $A_k(t)=Q_k^\\top K_k(t)$ "
        f"and a value matrix $V_k(t)$ (written $U_k$ in {arxiv('2412.02682')}). The continuous-time "
        "model of Abella–Silvestre–Tabuada is"
    )
    st.latex(
        r"\dot x_i=\sum_{k=1}^{h}\Pi_{x_i}\Big(\sum_{j\in\mathcal N(i)}\alpha^k_{ij}(t)\,V_k(t)\,x_j\Big),"
        r"\qquad \alpha^k_{ij}(t)=\frac{e^{\beta\langle x_i,A_k(t)x_j\rangle}}"
        r"{\sum_{l\in\mathcal N(i)}e^{\beta\langle x_i,A_k(t)x_l\rangle}}"
    )
    st.markdown(
        "with $\\mathcal N(i)=\\{1,\\dots,n\\}$ (full attention) or $\\{1,\\dots,i\\}$ (causal mask: "
        "the attention matrix is lower triangular, each row still sums to 1). The tangent projection is"
    )
    st.latex(r"\Pi_x(w)=w-(x^\top P\,w)\,x ,")
    st.markdown(
        "the layer-norm (oblique) projection, which keeps $x^\\top P x=1$ exactly and is the "
        "orthogonal projection $w-\\langle x,w\\rangle x$ on the sphere.  \n"
        "**UNCONFIRMED:** which projection the paper uses on the ellipsoid. The Euclidean-orthogonal "
        "projection onto $T_x\\mathcal M$, $w-\\frac{\\langle Px,w\\rangle}{\\|Px\\|^2}Px$, also keeps "
        "the ellipsoid invariant; both coincide on the sphere. We use $\\Pi_x(w)=w-(x^\\top Pw)x$.  \n"
        "The explorer's β multiplies every score; the paper absorbs it into $Q_k$. Time-varying keys "
        "are $K(t)=K_0+a\\,G\\sin(\\omega t+2\\pi k/h)$ (bounded and uniformly continuous)."
    )
    st.markdown(
        "A useful closed form: a token that only sees itself (the first token under a causal mask) "
        "follows the normalised linear flow $x(t)=e^{tV}x(0)/\\|e^{tV}x(0)\\|_P$ — with $V=I$ it "
        "never moves."
    )

    # ------------------------------------------------------------------ theorems (§A.3–A.4)
    st.header("What is proven", divider="gray")
    st.markdown(
        f"Four results of {arxiv('2412.02682')} (v1 order; v2 numbers where known). "
        "Each lesson of the explorer illustrates one of them."
    )
    rows = [
        ("result", "heads $h$", "$A_k=Q_k^\\top K_k$", "value $V$", "mask", "initial tokens", "conclusion"),
        (
            "**Thm A** (v2 3.1)",
            "1",
            "constant, symmetric, positive definite",
            "$I$",
            "full",
            "any",
            "a Riemannian gradient flow ⇒ converges to an equilibrium",
        ),
        (
            "**Thm B** (v2 4.1)",
            "any",
            "time-varying, bounded, uniformly continuous",
            "$I$",
            "full",
            "in an open hemisphere",
            "consensus",
        ),
        (
            "**Thm C** (v2 5.1)",
            "any",
            "time-varying, bounded",
            "$I$",
            "causal",
            "almost every",
            "all tokens → $x_1(0)$; asymptotically stable",
        ),
        (
            "**Thm D**",
            "1",
            "UNCONFIRMED",
            "constant, symmetric, simple top eigenvalue",
            "causal",
            "in one hemisphere of its top eigenvector $v$",
            "consensus (at $\\pm v$), asymptotically stable",
        ),
    ]
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    lines.insert(1, "|" + "---|" * len(rows[0]))
    st.markdown("\n".join(lines))
    with st.expander("Theorem A — gradient structure", expanded=False):
        st.markdown(
            "One head, $V=I$, $A$ constant symmetric positive definite: the dynamics is a "
            "Riemannian gradient flow, hence every trajectory converges to an equilibrium. Our "
            "reconstruction of the energy and metric (the paper's exact formula is UNCONFIRMED):"
        )
        st.latex(
            r"E(X)=\tfrac12\sum_{i,j}e^{\langle x_i,Ax_j\rangle},\qquad "
            r"g_X\big((u_i),(v_i)\big)=\sum_i Z_i(X)\,u_i^\top P v_i,\quad "
            r"Z_i=\sum_j e^{\langle x_i,Ax_j\rangle}."
        )
        st.markdown(
            "With the oblique projection and $V=I$, $\\dot X=\\mathrm{grad}_g E$ holds iff "
            "$P\\propto A$ — the tokens live on the ellipsoid matched to $A$ (the lesson "
            "*Layer norm's ellipsoid*). On the unit sphere this needs $A=cI$: for other $A$, "
            "$dE/dt$ can be negative there. Non-consensus equilibria exist (two antipodal tokens), "
            "so consensus is generic, not universal."
        )
    with st.expander("Theorem B — tokens in an open hemisphere reach consensus", expanded=False):
        st.markdown(
            "Any number of heads, $V_k=I$, $A_k(t)$ bounded and uniformly continuous, every token "
            "initially in an open hemisphere $\\{x:\\langle x,w\\rangle>0\\}$: the tokens converge "
            "to one point. The lowest height never decreases:"
        )
        st.latex(
            r"m(t)=\min_i\langle x_i(t),w\rangle,\qquad "
            r"\tfrac{d}{dt}\langle x_i,w\rangle=\sum_k\sum_j\alpha^k_{ij}\big(\langle x_j,w\rangle-"
            r"\langle x_i,x_j\rangle\langle x_i,w\rangle\big)\ \ge 0"
        )
        st.markdown("at the index $i$ that attains the minimum.")
        st.markdown(
            "(The Dini-derivative function is our reading; the proof tools named by the authors "
            "are consensus on manifolds and input-to-state stability.) Tokens in *no* open "
            "hemisphere — antipodal pairs, a great circle — break the assumption."
        )
    with st.expander("Theorem C — causal attention: everybody goes to the first token"):
        st.markdown(
            "Causal mask, $V_k=I$, any number of heads, any bounded $A_k(t)$: "
            "$\\dot x_1=\\Pi_{x_1}(x_1)=0$, so the first token is fixed, and for almost every "
            "start all tokens converge to $x_1(0)$ (an ISS cascade: token $i$ is driven by tokens "
            f"$<i$). The measure-zero exception: $x_2(0)=-x_1(0)$. Compare {arxiv('2411.04990')}, "
            "which needs a constant $A$ and one head."
        )
    with st.expander("Theorem D — causal attention with a symmetric value matrix"):
        st.markdown(
            "One head, causal mask, $V$ constant and symmetric with a simple largest (algebraically) "
            "eigenvalue, eigenvector $v$; all tokens start on the same side of $v^\\perp$. Then the "
            "tokens reach consensus, asymptotically stable. Our reading: at $\\pm v$, where the "
            "first token's normalised linear flow ends. The hypotheses on $A$ and whether v2 keeps "
            "this theorem are UNCONFIRMED."
        )

    # ------------------------------------------------------------------ SA / USA (§D.1–D.2)
    st.header("Temperature, energy and clusters", divider="gray")
    st.markdown(
        f"Geshkovski–Letrouit–Polyanskiy–Rigollet ({arxiv('2312.10794')}) study the sphere with "
        "$Q=K=V=I$ and an inverse temperature β:"
    )
    st.latex(
        r"\text{(SA)}\quad \dot x_i=P^\perp_{x_i}\Big(\frac{1}{Z_{\beta,i}}\sum_{j=1}^n "
        r"e^{\beta\langle x_i,x_j\rangle}x_j\Big),\quad Z_{\beta,i}=\sum_k e^{\beta\langle x_i,x_k\rangle};"
        r"\qquad \text{(USA)}\quad "
        r"\dot x_i=P^\perp_{x_i}\Big(\frac1n\sum_{j=1}^n e^{\beta\langle x_i,x_j\rangle}x_j\Big)."
    )
    st.markdown("Both increase the interaction energy")
    st.latex(
        r"E_\beta(X)=\frac{1}{2\beta n^2}\sum_{i,j}e^{\beta\langle x_i,x_j\rangle},\qquad "
        r"\frac{dE_\beta}{dt}=\frac1n\sum_i\|\dot x_i\|^2\ \text{(USA)},\quad "
        r"\frac{dE_\beta}{dt}=\frac1{n^2}\sum_i Z_{\beta,i}\|\dot x_i\|^2\ \text{(SA)},"
    )
    st.markdown(
        "maximal ($e^\\beta/2\\beta$) exactly at consensus — the explorer plots "
        "$E_\\beta/(e^\\beta/2\\beta)\\in(0,1]$. USA is the Wasserstein gradient ascent of $E_\\beta$; "
        "SA is a gradient flow for a reweighted metric (when $Q^\\top K$ is symmetric and "
        "$V=Q^\\top K$). Energy monotonicity is only claimed in these settings.  \n"
        "**Thm 6.1:** for $d\\ge3$, any β, almost every start reaches consensus. "
        "**Lemma 6.4:** tokens in an open hemisphere collapse exponentially fast. On the circle "
        f"($d=2$) and at large β, tokens form a few clusters that last a very long time before "
        f"merging (**metastability**, §6.3, proved later in {arxiv('2410.06833')})."
    )

    # ------------------------------------------------------------------ equiangular (§D.4)
    st.subheader("The equiangular reduction")
    st.markdown(
        "If all pairwise inner products start equal, $\\langle x_i(0),x_j(0)\\rangle=\\rho_0$, they stay "
        "equal and $\\rho(t)$ solves a scalar ODE:"
    )
    st.latex(
        r"\text{SA:}\ \ \dot\rho=\frac{2(1-\rho)\big((n-1)\rho+1\big)}{e^{\beta(1-\rho)}+n-1},\qquad "
        r"\text{USA:}\ \ \dot\rho=\frac2n\,e^{\beta\rho}(1-\rho)\big((n-1)\rho+1\big)."
    )
    st.markdown(
        "Near consensus $1-\\rho\\sim e^{-2t}$ for SA and $e^{-2e^\\beta t}$ for USA; the regular "
        "simplex $\\rho=-1/(n-1)$ is the other equilibrium."
    )

    # ------------------------------------------------------------------ what the app measures
    st.header("What the explorer measures", divider="gray")
    st.markdown(
        "* **diameter** $\\max_{i,j}\\angle(x_i,x_j)$ (radians); **consensus at t** = the first saved "
        "time after which it stays below $10^{-3}$.\n"
        "* **min cosine** $\\min_{i,j}\\cos\\angle(x_i,x_j)$ (1 at consensus).\n"
        "* **clusters**: connected components of $\\|u_i-u_j\\|<10^{-2}$ on directions "
        "$u_i=x_i/\\|x_i\\|$.\n"
        "* **energy** $E_\\beta/(e^\\beta/2\\beta)$ (monotone only where proven, see above).\n"
        "* For $d>3$ the 3D view is the projection on the three principal directions of the whole "
        "trajectory; for $d=2$, the circle."
    )

    st.header("Sources", divider="gray")
    st.markdown("\n".join(f"* {arxiv(k)} — {v}" for k, v in ARXIV.items()))
    st.caption(
        "These notes were assembled from the papers' abstracts, the authors' code and secondary "
        "sources; statements marked UNCONFIRMED were not checked against the full texts."
    )


try:
    main()
except Exception as exc:  # never a traceback on the page
    log.exception("about page failed")
    st.error(f"This page could not be drawn ({type(exc).__name__}: {exc}).")
