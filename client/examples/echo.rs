//! Resolve a pool and send one line to one of its elements, printing the
//! reply: `echo POOL REGISTRAR_URL [CA.pem]`.

use rserpool_client::{Client, ClientConfig, Event};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(pool), Some(registrar)) = (args.next(), args.next()) else {
        return Err("usage: echo POOL REGISTRAR_URL [CA.pem]".into());
    };
    let mut config = ClientConfig::new([registrar]);
    config.ca = args.next().map(Into::into);
    let mut client = Client::new(config)?;
    let elements = client.resolve(pool.as_str()).await?;
    println!("{pool}: {} pool element(s)", elements.len());
    let session = client.open_session(pool.as_str());
    client.send(session, b"hello\n".to_vec())?;
    loop {
        match client.next_event().await {
            Event::SessionData { bytes, .. } => {
                print!("{}", String::from_utf8_lossy(&bytes));
                return Ok(());
            }
            Event::Failover(n) => eprintln!("failover {} -> {}", n.old_element, n.new_element),
            Event::SessionClosed { reason, .. } => return Err(format!("{reason:?}").into()),
            _ => {}
        }
    }
}
