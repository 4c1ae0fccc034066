// fast-check draws the same inputs on every run, so that a test is red or green for good; a seed
// that fails names its counterexample. PROPERTY_SEED=random explores anew (and prints the seed
// of any failure, to pin it down with PROPERTY_SEED=N); PROPERTY_RUNS sets the controller's count.
import fc from "fast-check";

const seed = process.env.PROPERTY_SEED ?? "20261201";
if (seed !== "random") fc.configureGlobal({ seed: Number(seed) });
