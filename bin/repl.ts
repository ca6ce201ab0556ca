import { main } from "./main";

void main("development", { repl: true });
