// Back office — Catálogo e preços (operators). Built in issue #20.
import { h } from "./core.js";

export async function catalogAdminScreen() {
  return [h("h1", { text: "Catálogo e preços" })];
}
