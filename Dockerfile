# Attention Dynamics Explorer: the Streamlit app in a small image.
#   docker build -t attention-dynamics .
#   docker run --rm -p 8501:8501 attention-dynamics      # then open http://localhost:8501
# Base: Debian (trixie) slim. Nothing from apt is needed: no compiler, no curl.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1

# Unprivileged user that runs the app (it owns only its home and static/). Numeric ids so that
# the host and Kubernetes' runAsNonRoot can resolve them.
RUN groupadd --gid 10001 app \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin app

WORKDIR /app

# Install the package (engine + UI helpers) and its pinned-by-range dependencies first, so that
# editing app.py or pages/ does not re-run this layer. README.md is read by the build backend.
COPY pyproject.toml README.md ./
COPY dynamics/ dynamics/
COPY ui/ ui/
RUN pip install --no-cache-dir .

# The Streamlit front: entry point, pages, the theory notes the About page renders, and settings
# (headless, static serving, no telemetry).
COPY app.py ./
COPY pages/ pages/
COPY docs/ docs/
COPY .streamlit/ .streamlit/

# Serve plotly.js from the installed wheel (offline: no CDN). The app does the same at start-up,
# so static/ belongs to the app user.
RUN mkdir -p static \
    && python -c "import pathlib; from plotly.offline import get_plotlyjs; pathlib.Path('static/plotly.min.js').write_text(get_plotlyjs(), encoding='utf-8')" \
    && chown -R 10001:10001 static

USER 10001:10001

EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() == b'ok' else 1)"]

# The same `streamlit run app.py` as the README's run command, listening on every interface.
ENTRYPOINT ["streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0"]
