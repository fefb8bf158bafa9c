"""`python -m evals.bench`: run the benchmarks."""

from evals.bench.run import main

if __name__ == "__main__":
    main()
