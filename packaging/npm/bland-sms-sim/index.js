// The ESM entry: the same objects as the CommonJS one (lib.cjs).
import lib from "./lib.cjs";

export const { Simulator, SimulatorError, startSimulator, connect, runReplays, findBinary } = lib;
