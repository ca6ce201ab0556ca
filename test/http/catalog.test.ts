import { catalogHttpSuite } from "./catalog-http-suite";

catalogHttpSuite("SQLite", () => ({}));
