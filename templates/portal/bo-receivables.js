// Back office — Recebíveis (operators). Built in issue #20.
import { h } from "./core.js";

export async function receivablesScreen() {
  return [h("h1", { text: "Recebíveis" })];
}
