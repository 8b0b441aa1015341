// Back office — Faturamento mensal (operators). Built in issue #20.
import { h } from "./core.js";

export async function billingRunsScreen() {
  return [h("h1", { text: "Faturamento mensal" })];
}
