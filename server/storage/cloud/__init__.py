"""The Cloudflare copy: D1 rows, Vectorize vectors, Workers AI embeddings (replica.py), and the cloudflare
backend over it (cloudflare.py)."""
