"""The papers the cards cite (full references; docs/theory.md lists them with links)."""

ABELLA = (
    "Rodríguez Abella, Silvestre, Tabuada — The asymptotic behavior of attention in transformers, "
    "arXiv:2412.02682"
)
GLPR_PERSPECTIVE = (
    "Geshkovski, Letrouit, Polyanskiy, Rigollet — A mathematical perspective on Transformers, "
    "arXiv:2312.10794 (v5)"
)
GLPR_CLUSTERS = (
    "Geshkovski, Letrouit, Polyanskiy, Rigollet — The emergence of clusters in self-attention "
    "dynamics, arXiv:2305.05465 (v6)"
)
