"""Studies and benchmarks behind the shipped settings and the README's figures, each a re-runnable script.

The product's evaluation (`verbatim eval`: datasets, metrics, the runner) is the top level of eval/;
`verbatim bench` runs bench.py (bench_scale.py with --scale). The rest are one-off studies named in
README "Quality" and "Performance".
"""
