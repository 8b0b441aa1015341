// Back office — Chamados (operators). Built in issue #20.
import { h } from "./core.js";

export async function queueScreen() {
  return [h("h1", { text: "Chamados" })];
}
