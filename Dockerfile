# One image for every role; SERVICES selects what a container runs.
# Node 22: what moleculer 0.15, moleculer-web 0.11 and moleculer-repl 0.8 declare (README, "Node.js").
FROM node:22-bookworm-slim
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY bin ./bin
COPY lib ./lib
COPY services ./services
COPY config ./config
COPY fixtures ./fixtures
COPY moleculer.config.ts tsconfig.json ./
ENV NODE_ENV=production \
    CONSOLE_MCP_SERVER_HOST=0.0.0.0 \
    CONSOLE_MCP_SERVER_PORT=8000
EXPOSE 8000
USER node
CMD ["node", "bin/console-mcp-server.js"]
