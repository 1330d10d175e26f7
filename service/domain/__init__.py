"""Business rules. Nothing here imports Sanic; everything is tested directly."""
